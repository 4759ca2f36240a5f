"""How a model's layers become features for a target: the sweep's reducer, or Brain-Score's.

``Features`` is the loop's other input next to the targets: the image transform and
precision of the passes, how layers are grouped under --memory-budget, and, per group, the
Reducer the hooks apply (memtool.extract). ``reducer_features`` taps with the sweep's
``--reducer``; ``brainscore_features`` projects each flattened layer onto 1000 principal
components fitted on the reference images, as brainscore-vision's LayerPCA does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Features:
    transform: Callable  # PIL image -> tensor, the model's or Brain-Score's preprocessing
    autocast: bool  # mixed precision on CUDA (the sweep's reducer) or float32 (Brain-Score)
    plan: Callable  # (layers, n_stimuli) -> groups of layers, one pass each, within the budget
    prepare: Callable  # a group -> the Reducer its passes tap with (fits what it needs first)
    label: str = ""  # added to the progress label of each pass


def reducer_features(run) -> Features:
    """The sweep's ``--reducer`` on the model's own preprocessing (autocast on CUDA)."""
    from memtool.extract.tap import plan_passes

    reducer, budget = run.ctx.reducer, run.ctx.config.budget_bytes
    return Features(
        transform=run.loaded.transform,
        autocast=run.ctx.device.type == "cuda",
        plan=lambda layers, n: plan_passes(layers, reducer, n, budget),
        prepare=lambda group: reducer,
    )


def brainscore_features(run) -> Features:
    """Brain-Score's features (memtool.extract.brainscore_pca): every call into it is here.

    Layers are grouped under --memory-budget counting their PCA components; per group the
    components come from the on-disk cache or are fitted in one pass over the reference
    images. Images are preprocessed the Brain-Score way and run in float32 (no autocast),
    as brainscore does.
    """
    from memtool.extract import brainscore_pca as bp

    ctx, reference = run.ctx, run.ctx.reference
    config, device = ctx.config, ctx.device
    transform = bp.brainscore_transform(run.loaded.data_config)
    cache = bp.ComponentCache(
        bp.cache_root(), run.model_id, reference, bp.brainscore_preprocessing(run.loaded.data_config)
    )
    run.seconds.setdefault("brain_pca", 0.0)

    def plan(layers, n_stimuli: int) -> list[list]:
        return bp.plan_groups(layers, len(reference.paths), n_stimuli, config.budget_bytes)

    def prepare(group) -> bp.BrainscoreFeatures:
        t0 = time.perf_counter()
        fits = bp.group_components(
            run.model,
            group,
            reference,
            transform,
            device,
            cache,
            batch_size=config.batch_size,
            workers=run.workers,
            start_task=lambda k: run.reporter.task(
                f"Brain-Score PCA: {k} layers on {len(reference.paths)} reference images",
                len(reference.paths),
            ),
        )
        run.seconds["brain_pca"] += time.perf_counter() - t0
        return bp.BrainscoreFeatures(fits, reference)

    return Features(
        transform=transform, autocast=False, plan=plan, prepare=prepare, label=" (Brain-Score features)"
    )
