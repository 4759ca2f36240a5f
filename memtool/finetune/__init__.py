"""Fine-tuning pretrained networks for memorability, prediction and the fine-tuned-models study.

Modules (import them directly; nothing here imports torch):

* ``recipe`` - the documented training recipe (:class:`~memtool.finetune.recipe.Recipe`);
* ``heads`` - the one-output regression head and its parameter groups;
* ``data`` - split choice, the validation carve for K-fold sets, image loaders;
* ``train`` - :func:`~memtool.finetune.train.finetune_model` for one model and split;
* ``checkpoint`` - ``best.pt`` (a memtool checkpoint) and ``last.pt`` (resumable state);
* ``predict`` - scores for new images from a checkpoint or the ResMem baseline, and
  evaluation on a scored data set;
* ``study`` - :func:`~memtool.finetune.study.run_study`: many models, resume, penultimate
  layer scored with the sweep's code;
* ``records`` - the store tables of ``sql/schema/002_finetune.sql``.
"""
