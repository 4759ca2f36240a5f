"""The sweep: models x layers x targets, one forward pass per batch, results to the store.

``run_sweep`` checks the options and every model before any work, prepares the store,
records the run's lifecycle and hands the models to an engine (memtool.engines: local or
Ray), which runs the per-model pipeline (memtool.pipeline) for each. What the store already
holds for the same model weights, data set, reducer and readout (the *setup*) is skipped,
so re-running a command resumes it; ``force`` recomputes.

The names other modules have imported from here stay importable from here.
"""

from __future__ import annotations

import socket
from pathlib import Path

from memtool.errors import UsageError
from memtool.pipeline.config import DEMO_MODEL, TARGET, ModelOutcome, SweepConfig, SweepResult
from memtool.pipeline.context import SweepContext, build_context
from memtool.pipeline.images import image_batches
from memtool.pipeline.model import sweep_model
from memtool.progress import NullReporter, Reporter
from memtool.runtime import digest, resolve_device, run_lifecycle, software_versions
from memtool.store import Store
from memtool.store.sink import ResultSink

__all__ = [
    "DEMO_MODEL",
    "TARGET",
    "ModelOutcome",
    "ResultSink",
    "SweepConfig",
    "SweepContext",
    "SweepResult",
    "build_context",
    "image_batches",
    "resolve_device",
    "run_sweep",
    "software_versions",
    "sweep_model",
]

ENGINES = ("local", "ray")


def run_sweep(
    config: SweepConfig,
    db: Path,
    *,
    command: str = "memtool sweep",
    reporter: Reporter | None = None,
    engine: str = "local",
    ray_options: dict | None = None,
) -> SweepResult:
    """Run a sweep; raises MemtoolError for user-fixable problems, KeyboardInterrupt on Ctrl-C.

    ``engine="local"`` scores the models one after the other in this process;
    ``engine="ray"`` runs one task per model on a Ray cluster (``ray_options``: see
    memtool.engines.ray), with the same per-model pipeline, brain targets included. The
    run's row records its status (completed, failed, interrupted) in every case.
    """
    reporter = reporter or NullReporter()
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}'", hint="use --engine ray, or leave it out")
    from memtool.pipeline.preflight import check_models, check_options

    check_options(config)
    ctx = build_context(config)
    if engine == "local":  # every model, checkpoint and --layers before any work
        check_models(config)
    store = Store(db, on_wait=reporter.message)
    store.migrate()
    _adopt_legacy_model_ids(store, reporter)
    for dead in store.close_dead_runs(socket.gethostname()):
        reporter.message(f"run {dead} had been killed before it finished: marked interrupted")
    store.upsert_dataset(ctx.dataset_row())
    store.upsert_setup(ctx.setup_row())
    versions = software_versions()
    if ctx.brain:
        from memtool.scoring.brain import brainscore_version

        versions["brainscore-vision"] = brainscore_version()

    outcomes: list[ModelOutcome] = []
    with run_lifecycle(
        store,
        kind="sweep",
        command=command,
        config={**config.describe(), "engine": engine},
        config_hash=digest(config.describe()),
        versions=versions,
        device=str(ctx.device),
    ) as run:
        run.timings = lambda: {"models": {o.name: o.seconds for o in outcomes}}
        if engine == "ray":
            from memtool.engines.ray import run_on_ray

            run_on_ray(ctx, store, run.run_id, reporter, outcomes, **(ray_options or {}))
        else:
            from memtool.engines.local import run_local

            run_local(ctx, store, run.run_id, reporter, outcomes)
        failed = [o for o in outcomes if o.error]
        run.status = "failed" if failed else "completed"
        run.error = "; ".join(f"{o.name}: {o.error}" for o in failed) or None
    return SweepResult(
        run_id=run.run_id, db=store.path, dataset_id=ctx.dataset_id, models=outcomes, setup_id=ctx.setup_id
    )


def _adopt_legacy_model_ids(store: Store, reporter: Reporter) -> None:
    """Move an older store's offline-package model ids to the full weights digest."""
    from memtool.models.weights import LEGACY_MODEL_IDS

    for old in store.adopt_model_ids(LEGACY_MODEL_IDS):
        reporter.message(
            f"model id {old} (memtool's old partial weights digest) renamed to "
            f"{LEGACY_MODEL_IDS[old]}: its scores are kept"
        )
