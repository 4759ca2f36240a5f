"""The Ray engine: one Ray task per model, shards back, one writer.

The driver (the process running ``memtool sweep --engine ray``) starts or joins a Ray
cluster, submits one task per model asking for a GPU (or ``cpus_per_task`` CPUs where the
cluster has none), shows the workers' progress in one display, and ingests their result
shards into the store as they arrive. Each task rebuilds the sweep's context from its
config and runs the same per-model pipeline as the local engine
(memtool.pipeline.sweep_model) into a ShardSink (memtool.store.shards). This module
decides where models run and nothing else; ``run_models_on_ray`` takes the per-model work
as a picklable function, so it knows nothing of what a task computes.

Faults: a task whose worker process dies is retried by Ray up to ``max_retries`` times and
resumes from its own shards; a task that fails for a data or model reason (a MemtoolError,
or any exception in the scoring code) is not retried, is recorded as failed with its
error in ``sweep_tasks``, and the other models go on. Shards written before a driver
crash stay on disk; ``memtool ingest DIR`` loads them.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from memtool.errors import MemtoolError, UsageError
from memtool.pipeline import ModelOutcome, SweepConfig, build_context, sweep_model
from memtool.store.shards import ShardSink, ingest_shards

INGEST_EVERY_S = 2.0


class _QueueReporter:
    """A worker's Reporter: forwards progress events to the driver through a Ray queue."""

    def __init__(self, queue, task_id: str):
        self.queue, self.task_id, self._n = queue, task_id, 0

    def _put(self, *event) -> None:
        try:
            self.queue.put_nowait((self.task_id, *event))
        except Exception:  # a full or closed queue must never break scoring
            pass

    def task(self, description: str, total):
        self._n += 1
        key = self._n
        self._put("task", key, description, total)
        reporter = self

        class _Task:
            def advance(self, n: int = 1) -> None:
                reporter._put("advance", key, n)

            def close(self) -> None:
                reporter._put("close", key)

        return _Task()

    def message(self, text: str) -> None:
        self._put("message", text)


def run_on_ray(ctx, store, run_id: str, reporter, outcomes: list, **options) -> None:
    """The sweep's models as Ray tasks; appends a ModelOutcome per model (.error if failed).

    ``options`` are ``run_models_on_ray``'s (address, results_dir, max_retries, ...).
    Layers the store already holds for any of the sweep's setups are sent to the workers.
    """
    done = {} if ctx.config.force else {key: store.scored_layer_map(*key) for key in ctx.setups()}
    results = run_models_on_ray(
        ctx.config.models,
        partial(_model_task, asdict(ctx.config)),
        store,
        run_id,
        reporter,
        done=done,
        **options,
    )
    outcomes.extend(
        ModelOutcome(**r.outcome) if r.error is None else ModelOutcome.failed(r.spec, r.error, r.seconds)
        for r in results
    )


def _model_task(config: dict, spec: str, sink, run_id: str, reporter, device: str) -> dict:
    """One model on a Ray worker: rebuild the context there, run the pipeline into ``sink``."""
    ctx = build_context(SweepConfig(**{**config, "device": device}))
    return asdict(sweep_model(spec, ctx, sink, run_id, reporter))


def _task_body(
    work: Callable, spec: str, task_id: str, run_id: str, results_dir: str, done: dict, queue, device: str
) -> dict:
    """What runs on a worker: score one model into shards with ``work``."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    reporter = _QueueReporter(queue, task_id)
    reporter._put("start", socket.gethostname(), os.getpid())
    sink = ShardSink(Path(results_dir), run_id, task_id, done)
    return work(spec, sink, run_id, reporter, device)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(spec).name if os.sep in spec else spec)[:60]


def _connect(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
            configure_logging=True,
        )
    except ConnectionError as exc:
        raise UsageError(
            f"cannot reach a Ray cluster at {address}: {exc}",
            hint="start one with `ray start --head`, or drop --address to run locally",
        ) from None


@dataclass
class TaskResult:
    """How one model's task ended: ``outcome`` (what ``work`` returned) or ``error``."""

    task_id: str
    spec: str
    outcome: dict | None
    error: str | None
    seconds: float


def run_models_on_ray(
    specs: list[str],
    work: Callable,
    store,
    run_id: str,
    reporter,
    *,
    done: dict | None = None,
    address: str | None = None,
    results_dir: str | Path | None = None,
    max_retries: int = 2,
    cpus_per_task: float = 1,
    gpus_per_task: float | None = None,
) -> list[TaskResult]:
    """Run ``work(spec, sink, run_id, reporter, device)`` for each spec as a Ray task.

    ``work`` must be picklable (a module-level function or a partial of one); it gets a
    ``ShardSink`` that knows the layers in ``done`` ((setup_id, target) -> model_id ->
    layers) are stored already, and the device to use (``auto`` on a task with a GPU,
    else ``cpu``). Shards are ingested into ``store``, the one writer, as they arrive.
    """
    try:
        import ray
        from ray.util.queue import Queue
    except ImportError:
        raise UsageError(
            "--engine ray needs Ray, which is not installed", hint="pip install 'memtool[ray]'"
        ) from None

    _connect(address)
    results = Path(results_dir) if results_dir else store.path.with_suffix(".shards")
    results.mkdir(parents=True, exist_ok=True)
    if gpus_per_task is None:
        gpus_per_task = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    device = "auto" if gpus_per_task else "cpu"
    remote = ray.remote(_task_body).options(
        num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=max_retries, retry_exceptions=False
    )
    queue = Queue()
    tasks = {}
    for i, spec in enumerate(specs, 1):
        task_id = f"t{i:03d}-{_slug(spec)}"
        ref = remote.remote(work, spec, task_id, run_id, str(results), done or {}, queue, device)
        tasks[ref] = (task_id, spec)
        store.upsert_task(
            {
                "run_id": run_id,
                "task_id": task_id,
                "model": spec,
                "engine": "ray",
                "status": "running",
                "attempts": 0,
            }
        )
    reporter.message(
        f"{len(tasks)} tasks on Ray ({ray.cluster_resources().get('CPU', 0):g} CPUs, "
        f"{ray.cluster_resources().get('GPU', 0):g} GPUs); shards in {results}"
    )
    bars: dict[tuple[str, int], object] = {}
    attempts: dict[str, int] = {}
    nodes: dict[str, str] = {}
    started = {task_id: time.perf_counter() for task_id, _ in tasks.values()}
    outcomes: dict[str, TaskResult] = {}
    pending = list(tasks)
    last_ingest = 0.0
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.25)
            _drain(queue, reporter, bars, attempts, nodes, dict(tasks.values()))
            if time.monotonic() - last_ingest > INGEST_EVERY_S:
                ingest_shards(store, results / run_id)
                last_ingest = time.monotonic()
            for ref in ready:
                task_id, spec = tasks[ref]
                error, outcome = None, None
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause
                    error = (
                        cause.one_line()
                        if isinstance(cause, MemtoolError)
                        else f"{type(cause).__name__}: {cause}"
                    )
                except (
                    ray.exceptions.WorkerCrashedError,
                    ray.exceptions.NodeDiedError,
                    ray.exceptions.RayError,
                ) as exc:
                    error = f"worker died {attempts.get(task_id, 1)} times: {type(exc).__name__}"
                _drain(queue, reporter, bars, attempts, nodes, dict(tasks.values()))
                for key in [k for k in bars if k[0] == task_id]:
                    bars.pop(key).close()
                seconds = round(time.perf_counter() - started[task_id], 3)
                if error:
                    reporter.message(f"[red]failed[/] {spec}: {error}")
                else:
                    reporter.message(f"done {spec} on {nodes.get(task_id, '?')}")
                store.upsert_task(
                    {
                        "run_id": run_id,
                        "task_id": task_id,
                        "model": spec,
                        "engine": "ray",
                        "status": "failed" if error else "completed",
                        "attempts": attempts.get(task_id, 1),
                        "node": nodes.get(task_id),
                        "error": error,
                        "seconds": seconds,
                    }
                )
                outcomes[task_id] = TaskResult(task_id, spec, outcome, error, seconds)
    finally:
        ingest_shards(store, results / run_id)
        for bar in bars.values():
            bar.close()
    return [outcomes[task_id] for task_id, _ in tasks.values() if task_id in outcomes]


def _drain(queue, reporter, bars, attempts, nodes, specs) -> None:
    """Forward queued worker events to the driver's reporter."""
    while True:
        try:
            event = queue.get_nowait()
        except Exception:
            return
        task_id, kind, *rest = event
        label = specs.get(task_id, task_id)
        if kind == "start":
            attempts[task_id] = attempts.get(task_id, 0) + 1
            nodes[task_id] = f"{rest[0]} pid {rest[1]}"
            for key in [k for k in bars if k[0] == task_id]:  # bars of a dead attempt
                bars.pop(key).close()
            again = f" (attempt {attempts[task_id]})" if attempts[task_id] > 1 else ""
            reporter.message(f"started {label} on {nodes[task_id]}{again}")
        elif kind == "task":
            key, description, total = rest
            bars[(task_id, key)] = reporter.task(f"{label}: {description}", total)
        elif kind == "advance":
            bar = bars.get((task_id, rest[0]))
            if bar is not None:
                bar.advance(rest[1])
        elif kind == "close":
            bar = bars.pop((task_id, rest[0]), None)
            if bar is not None:
                bar.close()
        elif kind == "message":
            reporter.message(f"{label}: {rest[0]}")
