"""The per-model pipeline: load → probe → extract groups → score every target → sink.

``sweep_model`` is what both engines run for each model (memtool.engines): in this
process with the Store as the sink, or on a Ray worker with a ShardSink. It records the
model and all its layers, then hands the targets to the one loop
(memtool.pipeline.loop): memorability on the sweep's reducer first, then the brain
targets scored on Brain-Score's features together (they share the PCA fits), then each
brain target scored on the reducer.
"""

from __future__ import annotations

import time

from memtool.pipeline.config import TARGET, ModelOutcome
from memtool.pipeline.loop import ModelRun, score_targets


def sweep_model(spec: str, ctx, sink, run_id: str, reporter) -> ModelOutcome:
    """Score every selected layer of one model; rows go to ``sink`` batch by batch."""
    from memtool.pipeline.features import brainscore_features, reducer_features
    from memtool.pipeline.targets import BrainScoringTarget, MemorabilityTarget

    run, n_selected, n_alias = _load_and_probe(spec, ctx, sink, run_id, reporter)
    memorability = score_targets(run, reducer_features(run), [MemorabilityTarget(ctx)])
    brain = [BrainScoringTarget(t, setup_id) for t, setup_id in ctx.brain]
    for target in brain:
        target.register(sink, ctx)
    on_brainscore = [t for t in brain if t.features == "brainscore"]
    if on_brainscore:
        score_targets(run, brainscore_features(run), on_brainscore)
    for target in brain:
        if target.features != "brainscore":
            score_targets(run, reducer_features(run), [target])
    return ModelOutcome(
        name=run.loaded.name,
        model_id=run.model_id,
        weights_source=run.loaded.weights_source,
        n_layers=n_selected,
        n_scored=memorability.todo[TARGET],
        n_skipped=memorability.skipped[TARGET],
        n_aliases=n_alias,
        n_passes=memorability.n_groups,
        seconds={k: round(v, 3) for k, v in run.seconds.items()},
    )


def _load_and_probe(spec: str, ctx, sink, run_id: str, reporter) -> tuple[ModelRun, int, int]:
    """Load the model, probe every module once, store the model and layer rows.

    Every module is probed and stored, whatever --layers selects, so that depth, execution
    order and aliases mean the same in every run and a partial sweep (--layers
    penultimate) never shrinks the model's layer table. Returns the run (with the selected
    layers, aliases resolved), the number of selected layers and of aliases among them.
    """
    import torch

    from memtool.data.images import default_workers, make_loader
    from memtool.extract.tap import probe_layers, relative_depths
    from memtool.memory import keep_freed_memory
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import load_model

    config, device = ctx.config, ctx.device
    seconds: dict[str, float] = {}
    keep_freed_memory()  # no page faults per activation buffer (see memtool.memory)
    t0 = time.perf_counter()
    loaded = load_model(
        spec, checkpoint=config.checkpoint, random_init=config.random_init, head_stages=config.head_stages
    )
    model = loaded.module.to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    every_layer = enumerate_layers(model, "all")
    selected = enumerate_layers(model, config.layers)
    seconds["load"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    first_images, _ = next(iter(make_loader(ctx.dataset.paths[:2], loaded.transform, 2)))
    probed_all = probe_layers(model, every_layer, first_images.to(device))
    depth = relative_depths(probed_all)
    by_name = {p.name: p for p in probed_all}
    # A selected layer that aliases an unselected one is scored through that one.
    wanted = {by_name[l.name].alias_of or l.name for l in selected}
    model_id = f"{loaded.name}@{loaded.weights_id}"
    sink.upsert_model(
        {
            "model_id": model_id,
            "name": loaded.name,
            "source": loaded.source,
            "arch": loaded.arch,
            "weights_source": loaded.weights_source,
            "weights_id": loaded.weights_id,
            "n_params": int(loaded.n_params),
            "n_layers": len(probed_all),
            "input_size": "x".join(str(s) for s in loaded.data_config.get("input_size", ())),
            "data_config": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in loaded.data_config.items()
            },
        }
    )
    sink.replace_layers(
        model_id,
        [
            {
                "model_id": model_id,
                "layer_name": p.name,
                "layer_index": p.index,
                "exec_order": p.exec_order,
                "relative_depth": depth.get(p.name),
                "module_type": p.module_type,
                "output_shape": p.shape_text(),
                "n_features": p.n_features,
                "alias_of": p.alias_of,
            }
            for p in probed_all
        ],
    )
    seconds["probe"] = round(time.perf_counter() - t0, 3)
    workers = config.workers if config.workers is not None else default_workers(device.type)
    run = ModelRun(
        ctx=ctx,
        sink=sink,
        run_id=run_id,
        reporter=reporter,
        model=model,
        loaded=loaded,
        model_id=model_id,
        probed=[p for p in probed_all if p.name in wanted],
        workers=workers,
        seconds=seconds,
    )
    n_alias = sum(by_name[l.name].alias_of is not None for l in selected)
    return run, len(selected), n_alias
