"""The sweep: models x layers x memorability, one forward pass per batch, results to the store.

It orchestrates and does not compute: data sets come from ``memtool.data``, models from
``memtool.models``, features from ``memtool.extract``, scores from ``memtool.scoring``,
and every row goes through ``memtool.store``. What the store already holds for the same
model weights, data set, reducer and readout (the *setup*) is skipped, so re-running a
command resumes it; ``force`` recomputes.
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from memtool.errors import MemtoolError, UsageError
from memtool.progress import NullReporter, Reporter
from memtool.runtime import digest as _digest
from memtool.runtime import interruption_reason, run_lifecycle
from memtool.runtime import resolve_device, software_versions  # noqa: F401 (re-exported)
from memtool.store import Store

TARGET = "memorability"
DEMO_MODEL = "tf_efficientnet_lite0"


@dataclass
class SweepConfig:
    models: list[str] = field(default_factory=lambda: [DEMO_MODEL])
    data: str = "demo"
    layers: str = "all"
    reducer: str = "pool"
    folds: int = 5
    seed: int = 0
    splits: list[int] | None = None  # published splits to use (LaMem); None = all
    limit: int | None = None  # seeded subset of the images, for quick runs
    batch_size: int = 32
    device: str = "auto"
    workers: int | None = None  # DataLoader workers; None = 0 on CPU, min(8, cores) on CUDA
    checkpoint: str | None = None
    random_init: bool = False
    force: bool = False
    memory_budget_gb: float = 4.0  # features held at once; more layers -> more passes
    n_boot: int = 1000
    commit_every: int = 8  # layers per database transaction
    brain: list[str] = field(default_factory=list)  # brain targets (memtool.scoring.brain specs)
    brain_regression: str = "pls"  # metric for local response data: pls | ridge
    # who fits brain PLS/ridge regressions: fast (memtool's torch, on the sweep's device) |
    # exact (brainscore-vision's scikit-learn metric, unchanged)
    brain_regression_impl: str = "fast"
    # Features brain targets are scored on: "brainscore" (flatten + PCA-1000 on reference
    # images, as Brain-Score does) or "reducer" (the sweep's --reducer). None: brainscore
    # for Brain-Score registry targets, reducer for local data and RDMs.
    brain_features: str | None = None
    pca_images: str | None = None  # folder of >= 1000 reference images (first 1000 by name)

    def describe(self) -> dict:
        return asdict(self)


@dataclass
class ModelOutcome:
    name: str
    model_id: str
    weights_source: str
    n_layers: int
    n_scored: int
    n_skipped: int
    n_aliases: int
    n_passes: int
    seconds: dict
    error: str | None = None  # set when a distributed task failed for a data/model reason
    exit_code: int | None = None  # the failure's exit code, when known (local engine)


@dataclass
class SweepResult:
    run_id: str
    db: Path
    dataset_id: str
    models: list[ModelOutcome]
    setup_id: str = ""


@dataclass
class SweepContext:
    """What every model of a sweep shares; rebuilt from the config on each (Ray) worker."""

    config: SweepConfig
    dataset: object  # MemorabilityDataset
    dataset_id: str
    reducer: object  # Reducer
    readout: object  # ReadoutConfig
    setup_id: str
    device: object  # torch.device
    brain: list = field(default_factory=list)  # [(BrainTarget, brain setup_id)]
    decoded: object = None  # memtool.data.images.DecodeCache shared by the sweep's models
    reference: object = None  # brainscore_pca.ReferenceSet when a target uses Brain-Score features

    def dataset_row(self) -> dict:
        ds = self.dataset
        scores = ds.scores
        return {
            "dataset_id": self.dataset_id, "name": ds.name, "kind": ds.kind, "spec": ds.spec,
            "root": str(ds.root), "n_images": len(ds.items), "n_splits": len(ds.splits),
            "split_kind": ds.split_kind, "ceiling": ds.ceiling, "citation": ds.citation,
            "options": ds.options, "score_mean": float(scores.mean()),
            "score_std": float(scores.std()),
        }

    def setup_row(self) -> dict:
        return {"setup_id": self.setup_id, "dataset_id": self.dataset_id,
                "reducer": self.reducer.spec, "readout": self.readout.describe(),
                "description": {"target": TARGET, "split_kind": self.dataset.split_kind}}


def build_context(config: SweepConfig) -> SweepContext:
    """Validate options and load the data set (no model yet). Raises MemtoolError."""
    from memtool.data.memorability import load_memorability
    from memtool.extract.reducers import make_reducer
    from memtool.scoring.readout import ReadoutConfig

    if config.checkpoint and len(config.models) != 1:
        raise UsageError("--checkpoint applies to one model, but several were given",
                         hint="run one sweep per checkpoint")
    device = resolve_device(config.device)
    reducer = make_reducer(config.reducer, seed=config.seed)
    readout = ReadoutConfig(n_boot=config.n_boot, seed=config.seed)
    dataset = load_memorability(config.data, folds=config.folds, seed=config.seed,
                                splits=config.splits, limit=config.limit, validate=True)
    dataset_id = dataset.fingerprint()
    setup_id = _digest({"dataset": dataset_id, "reducer": reducer.spec,
                        "readout": readout.describe(), "target": TARGET})
    brain, reference = [], None
    if config.brain:
        from memtool.scoring.brain import (brain_setup_id, check_registry_specs,
                                           load_brain_targets)

        check_registry_specs(config.brain)  # unknown benchmark ids first, then (before any
        reference = _brainscore_reference(config)  # data is loaded) the PCA reference images
        targets = load_brain_targets(config.brain, seed=config.seed,
                                     regression=config.brain_regression,
                                     impl=config.brain_regression_impl, device=device)
        for t in targets:
            t.features = _features_mode(config, kind=t.kind)
            if t.features == "brainscore" and reference is None:
                # a local-looking spec that turned out to be a registry id
                from memtool.extract.brainscore_pca import resolve_reference_images

                reference = resolve_reference_images(config.pca_images)
        brain = [(t, brain_setup_id(t, _brain_features(t, reducer, reference)[0]))
                 for t in targets]
    from memtool.data.images import DecodeCache

    # decoded uint8 images are kept for later models/passes in a quarter of the budget
    decoded = DecodeCache(int(config.memory_budget_gb * 2**30 / 4))
    return SweepContext(config, dataset, dataset_id, reducer, readout, setup_id, device, brain,
                        decoded=decoded, reference=reference)


def run_sweep(config: SweepConfig, db: Path, *, command: str = "memtool sweep",
              reporter: Reporter | None = None, engine: str = "local",
              ray_options: dict | None = None) -> SweepResult:
    """Run a sweep; raises MemtoolError for user-fixable problems, KeyboardInterrupt on Ctrl-C.

    ``engine="local"`` scores the models one after the other in this process;
    ``engine="ray"`` runs one task per model on a Ray cluster (see memtool.distributed),
    with the same per-model pipeline (``sweep_model``), brain targets included. The run's
    row records its status (completed, failed, interrupted) in every case.
    """
    reporter = reporter or NullReporter()
    if engine not in ("local", "ray"):
        raise UsageError(f"unknown engine '{engine}'", hint="use --engine ray, or leave it out")
    from memtool.preflight import check_models, check_options

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
    with run_lifecycle(store, kind="sweep", command=command,
                       config={**config.describe(), "engine": engine},
                       config_hash=_digest(config.describe()), versions=versions,
                       device=str(ctx.device)) as run:
        run_id = run.run_id
        run.timings = lambda: {"models": {o.name: o.seconds for o in outcomes}}
        if engine == "ray":
            outcomes = _run_on_ray(ctx, store, run_id, reporter, ray_options or {})
        else:
            for i, spec in enumerate(config.models, 1):
                reporter.message(f"[{i}/{len(config.models)}] {spec}")
                task = {"run_id": run_id, "task_id": f"t{i:03d}", "model": spec,
                        "engine": "local", "attempts": 1, "node": socket.gethostname()}
                store.upsert_task({**task, "status": "running"})
                t_model = time.perf_counter()
                try:
                    outcomes.append(sweep_model(spec, ctx, store, run_id, reporter))
                except BaseException as exc:  # recorded, then handled below as for the run
                    took = round(time.perf_counter() - t_model, 3)
                    if isinstance(exc, KeyboardInterrupt):
                        store.upsert_task({**task, "status": "interrupted", "seconds": took,
                                           "error": interruption_reason(exc)})
                        raise
                    error = exc.one_line() if isinstance(exc, MemtoolError) else f"{type(exc).__name__}: {exc}"
                    store.upsert_task({**task, "status": "failed", "error": error, "seconds": took})
                    if not _model_specific(exc):
                        raise
                    # This model's problem only: recorded, and the other models go on.
                    rest = "; the other models go on" if i < len(config.models) else ""
                    reporter.message(f"{spec}: failed (recorded in the run's tasks{rest})")
                    outcomes.append(ModelOutcome(
                        name=spec, model_id="", weights_source="", n_layers=0, n_scored=0,
                        n_skipped=0, n_aliases=0, n_passes=0, seconds={"total": took},
                        error=error, exit_code=getattr(exc, "exit_code", 4)))
                    continue
                store.upsert_task({**task, "status": "completed",
                                   "seconds": round(time.perf_counter() - t_model, 3)})
        failed = [o for o in outcomes if o.error]
        run.status = "failed" if failed else "completed"
        run.error = "; ".join(f"{o.name}: {o.error}" for o in failed) or None
    return SweepResult(run_id=run_id, db=store.path, dataset_id=ctx.dataset_id, models=outcomes,
                       setup_id=ctx.setup_id)


def _model_specific(exc: BaseException) -> bool:
    """A failure of one model (unknown name, weights, its forward pass, NaN activations)
    rather than of the data, the options or the store, which every model shares."""
    from memtool.errors import DataError, StoreError

    if isinstance(exc, (DataError, StoreError, UsageError)):
        return False
    return isinstance(exc, Exception) and not isinstance(exc, (MemoryError, OSError))


def _adopt_legacy_model_ids(store: Store, reporter: Reporter) -> None:
    """Move an older store's offline-package model ids to the full weights digest."""
    from memtool.models.weights import LEGACY_MODEL_IDS

    for old in store.adopt_model_ids(LEGACY_MODEL_IDS):
        reporter.message(f"model id {old} (memtool's old partial weights digest) renamed to "
                         f"{LEGACY_MODEL_IDS[old]}: its scores are kept")


def _run_on_ray(ctx: SweepContext, store: Store, run_id: str, reporter: Reporter,
                options: dict) -> list[ModelOutcome]:
    """The Ray engine runs ``_model_task`` per model; failed tasks become outcomes with .error."""
    from functools import partial

    from memtool.distributed import run_models_on_ray

    setups = [(ctx.setup_id, TARGET)] + [(setup_id, t.region) for t, setup_id in ctx.brain]
    done = {} if ctx.config.force else {key: store.scored_layer_map(*key) for key in setups}
    results = run_models_on_ray(ctx.config.models, partial(_model_task, asdict(ctx.config)),
                                store, run_id, reporter, done=done, **options)
    return [ModelOutcome(**r.outcome) if r.error is None else
            ModelOutcome(name=r.spec, model_id="", weights_source="", n_layers=0, n_scored=0,
                         n_skipped=0, n_aliases=0, n_passes=0, seconds={"total": r.seconds},
                         error=r.error)
            for r in results]


def _model_task(config: dict, spec: str, sink: "ResultSink", run_id: str, reporter: Reporter,
                device: str) -> dict:
    """One model on a Ray worker: rebuild the context there, run the pipeline into ``sink``."""
    ctx = build_context(SweepConfig(**{**config, "device": device}))
    return asdict(sweep_model(spec, ctx, sink, run_id, reporter))


def _features_mode(config: SweepConfig, spec: str | None = None, kind: str | None = None) -> str:
    """``--brain-features``, else brainscore for registry targets and reducer for local data."""
    if config.brain_features is not None:
        return config.brain_features
    if kind is not None:
        return "brainscore" if kind == "registry" else "reducer"
    from memtool.scoring.brain import is_local_spec

    return "reducer" if is_local_spec(spec) else "brainscore"


def _brainscore_reference(config: SweepConfig):
    """The reference images of Brain-Score features, when a brain target uses them."""
    if not any(_features_mode(config, spec=s) == "brainscore" for s in config.brain):
        return None
    from memtool.extract.brainscore_pca import resolve_reference_images

    return resolve_reference_images(config.pca_images)


def _brain_features(target, reducer, reference) -> tuple[str, dict]:
    """The reducer spec a brain target's layers are scored with, and its brain_setups row."""
    if target.features == "brainscore":
        from memtool.extract.brainscore_pca import N_COMPONENTS, features_spec

        return features_spec(reference), {
            "features": "brainscore", "reference_set": reference.fingerprint,
            "reference_source": reference.source, "n_reference": len(reference.paths),
            "n_components": N_COMPONENTS}
    return reducer.spec, {"features": "reducer", "reference_set": None,
                          "reference_source": None, "n_reference": None, "n_components": None}


class ResultSink(Protocol):
    """Where everything a model produces goes: the Store in-process, Parquet shards on a
    Ray worker (memtool.distributed.shards.ShardSink), ingested by the driver exactly once."""

    def upsert_model(self, row: dict) -> None: ...
    def replace_layers(self, model_id: str, rows: Sequence[dict]) -> None: ...
    def scored_layers(self, model_id: str, setup_id: str, target: str) -> set[str]: ...
    def insert_scores(self, rows: Sequence[dict]) -> None: ...
    def register_brain_target(self, records: dict) -> None: ...  # scoring.brain.target_records
    def insert_brain_scores(self, rows: Sequence[tuple[dict, dict]]) -> None: ...  # score_rows


def sweep_model(spec: str, ctx: SweepContext, sink: ResultSink, run_id: str,
                reporter: Reporter) -> ModelOutcome:
    """Score every selected layer of one model; rows go to ``sink`` batch by batch."""
    import numpy as np
    import torch

    from memtool.data.images import default_workers, make_loader
    from memtool.extract.tap import LayerTap, plan_passes, probe_layers, relative_depths, run_batches
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import load_model
    from memtool.scoring.readout_torch import score_layers

    from memtool.memory import keep_freed_memory

    config, dataset, dataset_id = ctx.config, ctx.dataset, ctx.dataset_id
    setup_id, reducer, readout, device = ctx.setup_id, ctx.reducer, ctx.readout, ctx.device
    seconds: dict[str, float] = {}
    keep_freed_memory()  # no page faults per activation buffer (see memtool.memory)
    t0 = time.perf_counter()
    loaded = load_model(spec, checkpoint=config.checkpoint, random_init=config.random_init)
    model = loaded.module.to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    every_layer = enumerate_layers(model, "all")
    selected = enumerate_layers(model, config.layers)
    seconds["load"] = round(time.perf_counter() - t0, 3)

    paths = dataset.paths
    n = len(paths)
    workers = config.workers if config.workers is not None else default_workers(device.type)

    def loader():
        return image_batches(ctx, paths, loaded.transform, workers)

    t0 = time.perf_counter()
    first_images, _ = next(iter(make_loader(paths[:2], loaded.transform, 2)))
    # Every module is probed and stored, whatever --layers selects, so that depth, execution
    # order and aliases mean the same in every run and a partial sweep (--layers
    # penultimate) never shrinks the model's layer table.
    probed_all = probe_layers(model, every_layer, first_images.to(device))
    depth = relative_depths(probed_all)
    by_name = {p.name: p for p in probed_all}
    # A selected layer that aliases an unselected one is scored through that one.
    wanted = {by_name[l.name].alias_of or l.name for l in selected}
    probed = [p for p in probed_all if p.name in wanted]
    model_id = f"{loaded.name}@{loaded.weights_id}"
    sink.upsert_model({
        "model_id": model_id, "name": loaded.name, "source": loaded.source, "arch": loaded.arch,
        "weights_source": loaded.weights_source, "weights_id": loaded.weights_id,
        "n_params": int(loaded.n_params), "n_layers": len(probed_all),
        "input_size": "x".join(str(s) for s in loaded.data_config.get("input_size", ())),
        "data_config": {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in loaded.data_config.items()},
    })
    sink.replace_layers(model_id, [{
        "model_id": model_id, "layer_name": p.name, "layer_index": p.index,
        "exec_order": p.exec_order, "relative_depth": depth.get(p.name),
        "module_type": p.module_type, "output_shape": p.shape_text(),
        "n_features": p.n_features, "alias_of": p.alias_of,
    } for p in probed_all])
    seconds["probe"] = round(time.perf_counter() - t0, 3)

    # --force: score everything again; new rows replace old ones key by key, so layers
    # outside this run's --layers selection keep their scores.
    done = set() if config.force else sink.scored_layers(model_id, setup_id, TARGET)
    todo = [p for p in probed if p.scorable and p.name not in done]
    n_alias = sum(by_name[l.name].alias_of is not None for l in selected)
    skipped = sum(p.scorable for p in probed) - len(todo)
    if skipped:
        reporter.message(f"{skipped} layers already scored for this setup: skipped "
                         "(--force recomputes)")
    passes = plan_passes(todo, reducer, n, int(config.memory_budget_gb * 2**30)) if todo else []
    y = dataset.scores
    seconds["extract"] = seconds["score"] = 0.0
    for k, group in enumerate(passes, 1):
        label = f"extract {len(group)} layers" + (f" (pass {k}/{len(passes)})" if len(passes) > 1 else "")
        t0 = time.perf_counter()
        task = reporter.task(label, n)
        with LayerTap(model, group, reducer, n) as tap:
            run_batches(model, tap, loader(), device, autocast=device.type == "cuda",
                        on_batch=task.advance)
        task.close()
        seconds["extract"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        task = reporter.task("score layers", len(group))
        pending: list[dict] = []
        # Layers are scored commit_every at a time by the torch readout on the sweep's
        # device (folds and layers batched); each chunk is committed before the next.
        for c0 in range(0, len(group), config.commit_every):
            chunk = group[c0:c0 + config.commit_every]
            t_chunk = time.perf_counter()
            feats = [reducer.finalize(p.name, tap.features.pop(p.name)) for p in chunk]
            for p, f in zip(chunk, feats):
                if not np.all(np.isfinite(f)):
                    raise MemtoolError(f"layer {p.name} of {loaded.name} produced NaN or inf "
                                       "activations", hint="check the weights, or exclude the "
                                       "layer with --layers REGEX")
            results = score_layers(feats, y, dataset.splits, readout, device=device)
            took = (time.perf_counter() - t_chunk) / len(chunk)
            for p, f, result in zip(chunk, feats, results):
                for fs in [*result.folds, result.pooled]:
                    pending.append({
                        "run_id": run_id, "model_id": model_id, "layer_name": p.name,
                        "dataset_id": dataset_id, "setup_id": setup_id, "target": TARGET,
                        "fold": fs.fold, "metric": "spearman", "score": _num(fs.rho),
                        "ci_low": _num(fs.ci_low), "ci_high": _num(fs.ci_high),
                        "alpha": fs.alpha, "n_train": fs.n_train, "n_test": fs.n_test,
                        "reducer": reducer.spec, "n_features": int(f.shape[1]),
                        "seconds": round(took, 4),
                    })
                task.advance()
            del feats, results
            sink.insert_scores(pending)
            pending = []
        sink.insert_scores(pending)
        task.close()
        seconds["score"] += time.perf_counter() - t0
    if ctx.brain:
        _sweep_brain(ctx, sink, run_id, model, loaded, probed, model_id, workers, seconds, reporter)
    seconds = {k: round(v, 3) for k, v in seconds.items()}
    return ModelOutcome(name=loaded.name, model_id=model_id, weights_source=loaded.weights_source,
                        n_layers=len(selected), n_scored=len(todo), n_skipped=skipped,
                        n_aliases=n_alias, n_passes=len(passes), seconds=seconds)


def image_batches(ctx: SweepContext, paths, transform, workers: int):
    """Batches ``(images, indices)`` of ``paths`` ready for the model on ``ctx.device``.

    Decoding and resizing happen in the loader (``workers`` processes; pinned memory on
    CUDA); where the preprocessing allows it (memtool.data.images.split_normalisation)
    the loader stops at uint8 pixels, which ``ctx.decoded`` keeps for the next model or
    pass with the same preprocessing, and /255 + normalisation run on the device.
    """
    from memtool.data.images import DecodeCache, make_loader, split_normalisation

    device, batch_size = ctx.device, ctx.config.batch_size
    pin = device.type == "cuda"
    loader_transform, on_device = split_normalisation(transform)
    if on_device is None:
        yield from make_loader(paths, transform, batch_size, num_workers=workers, pin_memory=pin)
        return
    cache = ctx.decoded if ctx.decoded is not None else DecodeCache(0)
    for images, index in cache.batches(paths, loader_transform, batch_size, workers, pin):
        yield on_device(images.to(device, non_blocking=pin)), index


def _num(x) -> float | None:
    """NaN -> NULL in the database."""
    return None if x is None or x != x else float(x)


def _sweep_brain(ctx, sink, run_id, model, loaded, probed, model_id, workers, seconds,
                 reporter) -> None:
    """Score the model's layers against each brain target of the sweep.

    Per target: the layers not yet stored for its setup (target + reducer) are
    extracted over the target's stimuli in one forward pass per memory-budget group,
    with the same transform and reducer as for memorability, then scored one by one by
    brainscore-vision (memtool.scoring.brain) and committed in batches.
    """
    from memtool.extract.tap import plan_passes
    from memtool.scoring.brain import target_records

    config, reducer, device = ctx.config, ctx.reducer, ctx.device
    seconds["brain_extract"] = seconds["brain_score"] = 0.0
    for target, _ in ctx.brain:
        sink.register_brain_target(target_records(target, *_brain_features(target, reducer,
                                                                          ctx.reference)))
    pca_targets = [(t, s) for t, s in ctx.brain if t.features == "brainscore"]
    if pca_targets:
        _sweep_brain_brainscore(ctx, sink, run_id, model, loaded, probed, model_id, workers,
                                seconds, reporter, pca_targets)
    for target, setup_id in [(t, s) for t, s in ctx.brain if t.features != "brainscore"]:
        done = set() if config.force else sink.scored_layers(model_id, setup_id, target.region)
        todo = [p for p in probed if p.scorable and p.name not in done]
        if len(todo) < sum(p.scorable for p in probed):
            reporter.message(f"{target.name}: {sum(p.scorable for p in probed) - len(todo)} layers "
                             "already scored: skipped (--force recomputes)")
        n = len(target.stimuli)
        budget = int(config.memory_budget_gb * 2**30)
        for group in plan_passes(todo, reducer, n, budget) if todo else []:
            _score_brain_pass(ctx, sink, run_id, model, model_id, target, setup_id, group,
                              reducer, loaded.transform, workers, seconds, reporter,
                              autocast=device.type == "cuda")


def _sweep_brain_brainscore(ctx, sink, run_id, model, loaded, probed, model_id, workers, seconds,
                            reporter, targets) -> None:
    """Brain targets scored on Brain-Score's features (memtool.extract.brainscore_pca).

    Layers are grouped under --memory-budget counting their PCA components; per group the
    components come from the on-disk cache or are fitted in one pass over the reference
    images, then every target's stimuli go through the network once for the group with
    the projection in the hooks, and each layer is scored by brainscore-vision. Images are
    preprocessed the Brain-Score way and run in float32 (no autocast), as brainscore does.
    """
    from memtool.extract import brainscore_pca as bp

    config, device, reference = ctx.config, ctx.device, ctx.reference
    transform = bp.brainscore_transform(loaded.data_config)
    cache = bp.ComponentCache(bp.cache_root(), model_id, reference,
                              bp.brainscore_preprocessing(loaded.data_config))
    scorable = [p for p in probed if p.scorable]
    todo: dict[str, set[str]] = {}
    for target, setup_id in targets:
        done = set() if config.force else sink.scored_layers(model_id, setup_id, target.region)
        todo[setup_id] = {p.name for p in scorable if p.name not in done}
        if len(todo[setup_id]) < len(scorable):
            reporter.message(f"{target.name}: {len(scorable) - len(todo[setup_id])} layers "
                             "already scored: skipped (--force recomputes)")
    needed = [p for p in scorable if any(p.name in names for names in todo.values())]
    n_stimuli = max(len(t.stimuli) for t, _ in targets)
    budget = int(config.memory_budget_gb * 2**30)
    seconds.setdefault("brain_pca", 0.0)
    for group in bp.plan_groups(needed, len(reference.paths), n_stimuli, budget) if needed else []:
        t0 = time.perf_counter()
        fits = bp.group_components(
            model, group, reference, transform, device, cache, batch_size=config.batch_size,
            workers=workers, start_task=lambda k: reporter.task(
                f"Brain-Score PCA: {k} layers on {len(reference.paths)} reference images",
                len(reference.paths)))
        seconds["brain_pca"] += time.perf_counter() - t0
        features = bp.BrainscoreFeatures(fits, reference)
        for target, setup_id in targets:
            layers = [p for p in group if p.name in todo[setup_id]]
            if not layers:
                continue
            _score_brain_pass(ctx, sink, run_id, model, model_id, target, setup_id, layers,
                              features, transform, workers, seconds, reporter, autocast=False,
                              label=" (Brain-Score features)")
        del fits, features


def _score_brain_pass(ctx, sink, run_id, model, model_id, target, setup_id, layers, reducer,
                      transform, workers, seconds, reporter, *, autocast: bool,
                      label: str = "") -> None:
    """One pass of ``target``'s stimuli through ``model`` with ``layers`` tapped by
    ``reducer``, then each layer scored by brainscore-vision (memtool.scoring.brain) and
    committed through ``sink`` ``commit_every`` layers at a time: the one loop of both
    feature modes."""
    from memtool.extract.tap import LayerTap, run_batches
    from memtool.scoring.brain import score_rows

    n = len(target.stimuli)
    t0 = time.perf_counter()
    task = reporter.task(f"{target.name}: extract {len(layers)} layers{label}", n)
    with LayerTap(model, layers, reducer, n) as tap:
        run_batches(model, tap, image_batches(ctx, target.stimuli, transform, workers),
                    ctx.device, autocast=autocast, on_batch=task.advance)
    task.close()
    seconds["brain_extract"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    task = reporter.task(f"{target.name}: score layers", len(layers))
    pending = []
    for p in layers:
        t_layer = time.perf_counter()
        feats = reducer.finalize(p.name, tap.features.pop(p.name))
        result = target.score(feats, layer=p.name)
        pending.append(score_rows(
            run_id=run_id, model_id=model_id, layer=p.name, target=target,
            setup_id=setup_id, reducer_spec=reducer.spec, n_features=feats.shape[1],
            score=result, seconds=time.perf_counter() - t_layer))
        task.advance()
        if len(pending) >= ctx.config.commit_every:
            sink.insert_brain_scores(pending)
            pending = []
    sink.insert_brain_scores(pending)
    task.close()
    seconds["brain_score"] += time.perf_counter() - t0
