"""The local engine: the sweep's models one after the other, in this process.

Each model is a task in the run's ``sweep_tasks`` (running, then completed, failed or
interrupted), scored by the per-model pipeline (memtool.pipeline.sweep_model) straight
into the Store, which is the result sink in-process. A failure of one model only (an
unknown name, its weights, its forward pass) is recorded and the other models go on; a
failure every model shares (the data, the options, the store) or Ctrl-C ends the sweep.
"""

from __future__ import annotations

import socket
import time

from memtool.pipeline import ModelOutcome, sweep_model
from memtool.errors import ending


def run_local(ctx, store, run_id: str, reporter, outcomes: list) -> None:
    """Score ``ctx.config.models`` into ``store``; appends a ModelOutcome per model as it
    ends, so that a run stopped half-way still records the finished models' timings."""
    models = ctx.config.models
    for i, spec in enumerate(models, 1):
        reporter.message(f"[{i}/{len(models)}] {spec}")
        task = {
            "run_id": run_id,
            "task_id": f"t{i:03d}",
            "model": spec,
            "engine": "local",
            "attempts": 1,
            "node": socket.gethostname(),
        }
        store.upsert_task({**task, "status": "running"})
        t_model = time.perf_counter()
        try:
            outcomes.append(sweep_model(spec, ctx, store, run_id, reporter))
        except BaseException as exc:  # recorded, then handled as for the run
            took = round(time.perf_counter() - t_model, 3)
            status, error = ending(exc)
            store.upsert_task({**task, "status": status, "error": error, "seconds": took})
            if status == "interrupted" or not model_specific(exc):
                raise
            # This model's problem only: recorded, and the other models go on.
            rest = "; the other models go on" if i < len(models) else ""
            reporter.message(f"{spec}: failed (recorded in the run's tasks{rest})")
            outcomes.append(ModelOutcome.failed(spec, error, took, exit_code=getattr(exc, "exit_code", 4)))
            continue
        store.upsert_task({**task, "status": "completed", "seconds": round(time.perf_counter() - t_model, 3)})


def model_specific(exc: BaseException) -> bool:
    """A failure of one model (unknown name, weights, its forward pass, NaN activations)
    rather than of the data, the options or the store, which every model shares."""
    from memtool.errors import DataError, StoreError, UsageError

    if isinstance(exc, (DataError, StoreError, UsageError)):
        return False
    return isinstance(exc, Exception) and not isinstance(exc, (MemoryError, OSError))
