"""What every command shares about where and how it runs: device, versions, digests, runs.

Nothing here knows about sweeps, fine-tuning or Ray, so any part of memtool may import it
without pulling in another part (``finetune`` used to reach into ``sweep`` for these).
Heavy imports (torch, duckdb, ...) stay inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from memtool import __version__
from memtool.errors import UsageError, recording_failure


def software_versions() -> dict:
    """Versions of memtool and the libraries that produce its numbers (stored with each run)."""
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
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch.device; UsageError when unusable."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--device cuda was asked for but PyTorch sees no CUDA GPU", hint="use --device cpu or auto"
        )
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu, cuda or cuda:N")
    return torch.device(name)


def digest(obj) -> str:
    """A short, stable digest of a JSON-able object (keys sorted): setup ids, config hashes."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class RunRecord:
    """The run a ``run_lifecycle`` block is recording; the block sets how it ended."""

    run_id: str
    status: str = "completed"  # what the run records when the block ends without an exception
    error: str | None = None
    timings: Callable[[], dict] | None = None  # more timings, read when the run ends (any way)
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)


@contextmanager
def run_lifecycle(
    store,
    *,
    kind: str,
    command: str,
    config: dict,
    device: str,
    versions: dict | None = None,
    config_hash: str | None = None,
    run_id: str | None = None,
    host: str | None = None,
) -> Iterator[RunRecord]:
    """Record a run in ``store``'s ``runs`` table: ``running`` now, then how it ended.

    The one place that writes a run's lifecycle (sweep, fine-tuning study). Inside the
    block, set ``record.status`` / ``record.error`` for a normal end (default: completed)
    and ``record.timings`` (a function returning more timings, read at the end whichever
    way the block ends). Ctrl-C or SIGTERM records ``interrupted`` (the run's still-running
    tasks too), any other exception ``failed``
    with its one-line error, and the exception propagates. ``timings['total']`` is the
    block's wall time.
    """
    record = RunRecord(run_id=run_id or new_run_id())
    store.start_run(
        record.run_id,
        kind=kind,
        command=command,
        config=config,
        config_hash=config_hash or digest(config),
        memtool_version=__version__,
        versions=versions if versions is not None else software_versions(),
        device=device,
        host=host or socket.gethostname(),
    )

    def timings() -> dict:
        return {"total": record.elapsed(), **(record.timings() if record.timings else {})}

    def finish(status: str, error: str) -> None:
        store.finish_run(record.run_id, status, error=error, timings=timings())
        if status == "interrupted":
            store.finish_tasks(record.run_id, status, error)

    with recording_failure(finish):
        yield record
    store.finish_run(record.run_id, record.status, error=record.error, timings=timings())
