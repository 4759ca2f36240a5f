"""The sweep: models x layers x memorability, one forward pass per batch, results to the store.

It orchestrates and does not compute: data sets come from ``memtool.data``, models from
``memtool.models``, features from ``memtool.extract``, scores from ``memtool.scoring``,
and every row goes through ``memtool.store``. What the store already holds for the same
model weights, data set, reducer and readout (the *setup*) is skipped, so re-running a
command resumes it; ``force`` recomputes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from memtool import __version__
from memtool.errors import MemtoolError, UsageError
from memtool.progress import NullReporter, Reporter
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


@dataclass
class SweepResult:
    run_id: str
    db: Path
    dataset_id: str
    models: list[ModelOutcome]
    setup_id: str = ""


def software_versions() -> dict:
    import duckdb
    import numpy
    import sklearn
    import timm
    import torch

    return {
        "memtool": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "timm": timm.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
    }


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but PyTorch sees no CUDA GPU",
                         hint="use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu, cuda or cuda:N")
    return torch.device(name)


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    brain: list = field(default_factory=list)  # [(BrainTarget, brain setup_id)], set by run_sweep
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
                                splits=config.splits, limit=config.limit)
    dataset_id = dataset.fingerprint()
    setup_id = _digest({"dataset": dataset_id, "reducer": reducer.spec,
                        "readout": readout.describe(), "target": TARGET})
    return SweepContext(config, dataset, dataset_id, reducer, readout, setup_id, device)


def run_sweep(config: SweepConfig, db: Path, *, command: str = "memtool sweep",
              reporter: Reporter | None = None, engine: str = "local",
              ray_options: dict | None = None) -> SweepResult:
    """Run a sweep; raises MemtoolError for user-fixable problems, KeyboardInterrupt on Ctrl-C.

    ``engine="local"`` scores the models one after the other in this process;
    ``engine="ray"`` runs one task per model on a Ray cluster (see memtool.distributed),
    with the same scoring code. The run's row records its status (completed, failed,
    interrupted) in every case.
    """
    reporter = reporter or NullReporter()
    if engine not in ("local", "ray"):
        raise UsageError(f"unknown engine '{engine}'", hint="use --engine ray, or leave it out")
    reference = _brainscore_reference(config)  # before any work: the PCA reference images
    ctx = build_context(config)
    store = Store(db)
    store.migrate()
    for dead in store.close_dead_runs(socket.gethostname()):
        reporter.message(f"run {dead} had been killed before it finished: marked interrupted")
    store.upsert_dataset(ctx.dataset_row())
    store.upsert_setup(ctx.setup_row())
    versions = software_versions()
    if config.brain:
        if engine != "local":
            raise UsageError("--brain runs with the local engine only", hint="leave out --engine ray")
        from memtool.scoring.brain import brainscore_version, load_brain_targets

        targets = load_brain_targets(config.brain, seed=config.seed,
                                     regression=config.brain_regression)
        ctx.reference = reference
        ctx.brain = [(t, _register_brain_target(store, t, ctx)) for t in targets]
        versions["brainscore-vision"] = brainscore_version()

    run_id = uuid.uuid4().hex[:12]
    store.start_run(run_id, kind="sweep", command=command,
                    config={**config.describe(), "engine": engine},
                    config_hash=_digest(config.describe()), memtool_version=__version__,
                    versions=versions, device=str(ctx.device), host=socket.gethostname())
    outcomes: list[ModelOutcome] = []
    started = time.perf_counter()
    try:
        if engine == "ray":
            from memtool.distributed import run_models_on_ray

            outcomes = run_models_on_ray(ctx, store, run_id, reporter, **(ray_options or {}))
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
                    error = exc.one_line() if isinstance(exc, MemtoolError) else type(exc).__name__
                    store.upsert_task({**task, "status": "failed", "error": error,
                                       "seconds": round(time.perf_counter() - t_model, 3)})
                    raise
                store.upsert_task({**task, "status": "completed",
                                   "seconds": round(time.perf_counter() - t_model, 3)})
    except KeyboardInterrupt:
        store.finish_run(run_id, "interrupted", error="interrupted by the user",
                         timings=_timings(outcomes, started))
        raise
    except MemtoolError as exc:
        store.finish_run(run_id, "failed", error=exc.one_line(), timings=_timings(outcomes, started))
        raise
    except Exception as exc:
        store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}",
                         timings=_timings(outcomes, started))
        raise
    failed = [o for o in outcomes if o.error]
    store.finish_run(run_id, "failed" if failed else "completed",
                     error="; ".join(f"{o.name}: {o.error}" for o in failed) or None,
                     timings=_timings(outcomes, started))
    return SweepResult(run_id=run_id, db=store.path, dataset_id=ctx.dataset_id, models=outcomes,
                       setup_id=ctx.setup_id)


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
    from memtool.extract.brainscore_pca import check_mode

    check_mode(config.brain_features)
    if not any(_features_mode(config, spec=s) == "brainscore" for s in config.brain):
        return None
    from memtool.extract.brainscore_pca import resolve_reference_images

    return resolve_reference_images(config.pca_images)


def _register_brain_target(store, target, ctx: SweepContext) -> str:
    from memtool.scoring.brain import register_target

    target.features = _features_mode(ctx.config, kind=target.kind)
    if target.features == "brainscore":
        from memtool.extract.brainscore_pca import N_COMPONENTS, features_spec

        if ctx.reference is None:  # a local spec that turned out to be a registry id
            from memtool.extract.brainscore_pca import resolve_reference_images

            ctx.reference = resolve_reference_images(ctx.config.pca_images)
        return register_target(store, target, features_spec(ctx.reference), features={
            "features": "brainscore", "reference_set": ctx.reference.fingerprint,
            "reference_source": ctx.reference.source,
            "n_reference": len(ctx.reference.paths), "n_components": N_COMPONENTS})
    return register_target(store, target, ctx.reducer.spec, features={
        "features": "reducer", "reference_set": None, "reference_source": None,
        "n_reference": None, "n_components": None})


def _timings(outcomes: list[ModelOutcome], started: float) -> dict:
    return {"total": round(time.perf_counter() - started, 3),
            "models": {o.name: o.seconds for o in outcomes}}


class ResultSink(Protocol):
    """Where a model's rows go: the Store in-process, Parquet shards on a Ray worker."""

    def upsert_model(self, row: dict) -> None: ...
    def replace_layers(self, model_id: str, rows: Sequence[dict]) -> None: ...
    def scored_layers(self, model_id: str, setup_id: str, target: str) -> set[str]: ...
    def insert_scores(self, rows: Sequence[dict]) -> None: ...


def sweep_model(spec: str, ctx: SweepContext, sink: ResultSink, run_id: str,
                reporter: Reporter) -> ModelOutcome:
    """Score every selected layer of one model; rows go to ``sink`` batch by batch."""
    import numpy as np
    import torch

    from memtool.data.images import make_loader
    from memtool.extract.tap import LayerTap, plan_passes, probe_layers, relative_depths, run_batches
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import load_model
    from memtool.scoring.readout import score_features

    config, dataset, dataset_id = ctx.config, ctx.dataset, ctx.dataset_id
    setup_id, reducer, readout, device = ctx.setup_id, ctx.reducer, ctx.readout, ctx.device
    seconds: dict[str, float] = {}
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
    workers = config.workers if config.workers is not None else (
        min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)

    def loader():
        return make_loader(paths, loaded.transform, config.batch_size, num_workers=workers)

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
        for p in group:
            t_layer = time.perf_counter()
            feats = reducer.finalize(p.name, tap.features.pop(p.name))
            if not np.all(np.isfinite(feats)):
                raise MemtoolError(f"layer {p.name} of {loaded.name} produced NaN or inf activations",
                                   hint="check the weights, or exclude the layer with --layers REGEX")
            result = score_features(feats, y, dataset.splits, readout)
            took = time.perf_counter() - t_layer
            for fs in [*result.folds, result.pooled]:
                pending.append({
                    "run_id": run_id, "model_id": model_id, "layer_name": p.name,
                    "dataset_id": dataset_id, "setup_id": setup_id, "target": TARGET,
                    "fold": fs.fold, "metric": "spearman", "score": _num(fs.rho),
                    "ci_low": _num(fs.ci_low), "ci_high": _num(fs.ci_high), "alpha": fs.alpha,
                    "n_train": fs.n_train, "n_test": fs.n_test, "reducer": reducer.spec,
                    "n_features": int(feats.shape[1]), "seconds": round(took, 4),
                })
            task.advance()
            if len(pending) >= config.commit_every * (len(dataset.splits) + 1):
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
    from memtool.data.images import make_loader
    from memtool.extract.tap import LayerTap, plan_passes, run_batches
    from memtool.scoring.brain import insert_brain_scores, score_rows

    config, reducer, device = ctx.config, ctx.reducer, ctx.device
    seconds["brain_extract"] = seconds["brain_score"] = 0.0
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
            t0 = time.perf_counter()
            task = reporter.task(f"{target.name}: extract {len(group)} layers", n)
            with LayerTap(model, group, reducer, n) as tap:
                run_batches(model, tap, make_loader(target.stimuli, loaded.transform,
                                                    config.batch_size, num_workers=workers),
                            device, autocast=device.type == "cuda", on_batch=task.advance)
            task.close()
            seconds["brain_extract"] += time.perf_counter() - t0

            t0 = time.perf_counter()
            task = reporter.task(f"{target.name}: score layers", len(group))
            pending = []
            for p in group:
                t_layer = time.perf_counter()
                feats = reducer.finalize(p.name, tap.features.pop(p.name))
                result = target.score(feats, layer=p.name)
                pending.append(score_rows(
                    run_id=run_id, model_id=model_id, layer=p.name, target=target,
                    setup_id=setup_id, reducer_spec=reducer.spec, n_features=feats.shape[1],
                    score=result, seconds=time.perf_counter() - t_layer))
                task.advance()
                if len(pending) >= config.commit_every:
                    insert_brain_scores(sink, pending)
                    pending = []
            insert_brain_scores(sink, pending)
            task.close()
            seconds["brain_score"] += time.perf_counter() - t0


def _sweep_brain_brainscore(ctx, sink, run_id, model, loaded, probed, model_id, workers, seconds,
                            reporter, targets) -> None:
    """Brain targets scored on Brain-Score's features (memtool.extract.brainscore_pca).

    Layers are grouped under --memory-budget counting their PCA components; per group the
    components come from the on-disk cache or are fitted in one pass over the reference
    images, then every target's stimuli go through the network once for the group with
    the projection in the hooks, and each layer is scored by brainscore-vision. Images are
    preprocessed the Brain-Score way and run in float32 (no autocast), as brainscore does.
    """
    from memtool.data.images import make_loader
    from memtool.extract import brainscore_pca as bp
    from memtool.extract.tap import LayerTap, run_batches
    from memtool.scoring.brain import insert_brain_scores, score_rows

    config, device, reference = ctx.config, ctx.device, ctx.reference
    transform = bp.brainscore_transform(loaded.data_config)
    cache = bp.ComponentCache(bp.cache_root(), model_id, reference,
                              bp.brainscore_preprocessing(loaded.data_config))
    spec = bp.features_spec(reference)
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
        fits = {}
        for p in group:
            hit = cache.load(p.name, device)
            if hit is not None and hit.n_features == p.n_features:
                fits[p.name] = hit
        missing = [p for p in group if p.name not in fits]
        if missing:
            task = reporter.task(f"Brain-Score PCA: {len(missing)} layers on "
                                 f"{len(reference.paths)} reference images", len(reference.paths))
            fitted = bp.fit_components(model, missing, reference, transform, device,
                                       batch_size=config.batch_size, workers=workers,
                                       on_batch=task.advance)
            task.close()
            for name, fit in fitted.items():
                cache.save(name, fit)
            fits.update(fitted)
        seconds["brain_pca"] += time.perf_counter() - t0
        features = bp.BrainscoreFeatures(fits, reference)
        for target, setup_id in targets:
            layers = [p for p in group if p.name in todo[setup_id]]
            if not layers:
                continue
            n = len(target.stimuli)
            t0 = time.perf_counter()
            task = reporter.task(f"{target.name}: extract {len(layers)} layers (Brain-Score features)", n)
            with LayerTap(model, layers, features, n) as tap:
                run_batches(model, tap, make_loader(target.stimuli, transform, config.batch_size,
                                                    num_workers=workers),
                            device, autocast=False, on_batch=task.advance)
            task.close()
            seconds["brain_extract"] += time.perf_counter() - t0

            t0 = time.perf_counter()
            task = reporter.task(f"{target.name}: score layers", len(layers))
            pending = []
            for p in layers:
                t_layer = time.perf_counter()
                feats = tap.features.pop(p.name)
                result = target.score(feats, layer=p.name)
                pending.append(score_rows(
                    run_id=run_id, model_id=model_id, layer=p.name, target=target,
                    setup_id=setup_id, reducer_spec=spec, n_features=feats.shape[1],
                    score=result, seconds=time.perf_counter() - t_layer))
                task.advance()
                if len(pending) >= config.commit_every:
                    insert_brain_scores(sink, pending)
                    pending = []
            insert_brain_scores(sink, pending)
            task.close()
            seconds["brain_score"] += time.perf_counter() - t0
        del fits, features
