"""Fine-tuning pretrained networks for memorability, prediction and the fine-tuned-models study.

Modules (import them directly; nothing here imports torch):

* ``recipe`` - the documented training recipe (:class:`~memtool.finetune.recipe.Recipe`);
* ``heads`` - the one-output regression head and its parameter groups;
* ``data`` - split choice, the validation carve for K-fold sets, image loaders;
* ``train`` - :func:`~memtool.finetune.train.finetune_model` for one model and split;
* ``runs`` - a run's options, identity (``finetune_id``), folder and result;
* ``trainer`` - the epochs of one run: setup, linear probe, early stopping, checkpoints, test;
* ``optim`` - AdamW over the parameter groups, the schedule, mixed precision, one step;
* ``passes`` - a training epoch, predictions (flip TTA) and head inputs on one device;
* ``ema`` - the moving average of the weights and swapping it in for evaluation;
* ``stopping`` - the epoch history and early stopping;
* ``checkpoint`` - ``best.pt`` (a memtool checkpoint) and ``last.pt`` (resumable state);
* ``predict`` - scores for new images from a checkpoint or the ResMem baseline, and
  evaluation on a scored data set;
* ``study`` - :func:`~memtool.finetune.study.run_study`: many models, resume, penultimate
  layer scored with the sweep's code;
* ``records`` - the store tables of ``sql/schema/002_finetune.sql``.
"""
