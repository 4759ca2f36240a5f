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


@dataclass
class SweepResult:
    run_id: str
    db: Path
    dataset_id: str
    models: list[ModelOutcome]


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


def run_sweep(config: SweepConfig, db: Path, *, command: str = "memtool sweep",
              reporter: Reporter | None = None) -> SweepResult:
    """Run a sweep; raises MemtoolError for user-fixable problems, KeyboardInterrupt on Ctrl-C.

    The run's row records its status (completed, failed, interrupted) in every case.
    """
    from memtool.data.memorability import load_memorability
    from memtool.extract.reducers import make_reducer
    from memtool.scoring.readout import ReadoutConfig

    reporter = reporter or NullReporter()
    if config.checkpoint and len(config.models) != 1:
        raise UsageError("--checkpoint applies to one model, but several were given",
                         hint="run one sweep per checkpoint")
    device = resolve_device(config.device)
    reducer = make_reducer(config.reducer, seed=config.seed)
    readout = ReadoutConfig(n_boot=config.n_boot, seed=config.seed)
    dataset = load_memorability(config.data, folds=config.folds, seed=config.seed,
                                splits=config.splits, limit=config.limit)
    store = Store(db)
    store.migrate()

    dataset_id = dataset.fingerprint()
    scores = dataset.scores
    store.upsert_dataset({
        "dataset_id": dataset_id, "name": dataset.name, "kind": dataset.kind,
        "spec": dataset.spec, "root": str(dataset.root), "n_images": len(dataset.items),
        "n_splits": len(dataset.splits), "split_kind": dataset.split_kind,
        "ceiling": dataset.ceiling, "citation": dataset.citation, "options": dataset.options,
        "score_mean": float(scores.mean()), "score_std": float(scores.std()),
    })
    readout_desc = readout.describe()
    setup_id = _digest({"dataset": dataset_id, "reducer": reducer.spec, "readout": readout_desc,
                        "target": TARGET})
    store.upsert_setup({"setup_id": setup_id, "dataset_id": dataset_id, "reducer": reducer.spec,
                        "readout": readout_desc,
                        "description": {"target": TARGET, "split_kind": dataset.split_kind}})

    run_id = uuid.uuid4().hex[:12]
    store.start_run(run_id, kind="sweep", command=command, config=config.describe(),
                    config_hash=_digest(config.describe()), memtool_version=__version__,
                    versions=software_versions(), device=str(device), host=socket.gethostname())
    outcomes: list[ModelOutcome] = []
    started = time.perf_counter()
    try:
        for i, spec in enumerate(config.models, 1):
            reporter.message(f"[{i}/{len(config.models)}] {spec}")
            outcomes.append(_sweep_model(spec, config, dataset, dataset_id, setup_id, reducer,
                                         readout, store, run_id, device, reporter))
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
    store.finish_run(run_id, "completed", timings=_timings(outcomes, started))
    return SweepResult(run_id=run_id, db=store.path, dataset_id=dataset_id, models=outcomes)


def _timings(outcomes: list[ModelOutcome], started: float) -> dict:
    return {"total": round(time.perf_counter() - started, 3),
            "models": {o.name: o.seconds for o in outcomes}}


def _sweep_model(spec, config, dataset, dataset_id, setup_id, reducer, readout, store, run_id,
                 device, reporter) -> ModelOutcome:
    import numpy as np
    import torch

    from memtool.data.images import make_loader
    from memtool.extract.tap import LayerTap, plan_passes, probe_layers, relative_depths, run_batches
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import load_model
    from memtool.scoring.readout import score_features

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = load_model(spec, checkpoint=config.checkpoint, random_init=config.random_init)
    model = loaded.module.to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    layers = enumerate_layers(model, config.layers)
    seconds["load"] = round(time.perf_counter() - t0, 3)

    paths = dataset.paths
    n = len(paths)
    workers = config.workers if config.workers is not None else (
        min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)

    def loader():
        return make_loader(paths, loaded.transform, config.batch_size, num_workers=workers)

    t0 = time.perf_counter()
    first_images, _ = next(iter(make_loader(paths[:2], loaded.transform, 2)))
    probed = probe_layers(model, layers, first_images.to(device))
    depth = relative_depths(probed)
    model_id = f"{loaded.name}@{loaded.weights_id}"
    store.upsert_model({
        "model_id": model_id, "name": loaded.name, "source": loaded.source, "arch": loaded.arch,
        "weights_source": loaded.weights_source, "weights_id": loaded.weights_id,
        "n_params": int(loaded.n_params), "n_layers": len(layers),
        "input_size": "x".join(str(s) for s in loaded.data_config.get("input_size", ())),
        "data_config": {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in loaded.data_config.items()},
    })
    store.replace_layers(model_id, [{
        "model_id": model_id, "layer_name": p.name, "layer_index": p.index,
        "exec_order": p.exec_order, "relative_depth": depth.get(p.name),
        "module_type": p.module_type, "output_shape": p.shape_text(),
        "n_features": p.n_features, "alias_of": p.alias_of,
    } for p in probed])
    seconds["probe"] = round(time.perf_counter() - t0, 3)

    if config.force:
        store.delete_scores(model_id, setup_id, TARGET)
    done = store.scored_layers(model_id, setup_id, TARGET)
    todo = [p for p in probed if p.scorable and p.name not in done]
    n_alias = sum(p.alias_of is not None for p in probed)
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
                store.insert_scores(pending)
                pending = []
        store.insert_scores(pending)
        task.close()
        seconds["score"] += time.perf_counter() - t0
    seconds = {k: round(v, 3) for k, v in seconds.items()}
    return ModelOutcome(name=loaded.name, model_id=model_id, weights_source=loaded.weights_source,
                        n_layers=len(probed), n_scored=len(todo), n_skipped=skipped,
                        n_aliases=n_alias, n_passes=len(passes), seconds=seconds)


def _num(x) -> float | None:
    """NaN -> NULL in the database."""
    return None if x is None or x != x else float(x)
