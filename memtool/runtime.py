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
from typing import Iterator

from memtool import __version__
from memtool.errors import MemtoolError, UsageError


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
        raise UsageError("--device cuda was asked for but PyTorch sees no CUDA GPU",
                         hint="use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu, cuda or cuda:N")
    return torch.device(name)


def digest(obj) -> str:
    """A short, stable digest of a JSON-able object (keys sorted): setup ids, config hashes."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def error_line(exc: BaseException) -> str:
    """How a run records the exception that ended it."""
    if isinstance(exc, MemtoolError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


@dataclass
class RunRecord:
    """The run a ``run_lifecycle`` block is recording; the block sets how it ended."""

    run_id: str
    status: str = "completed"  # what the run records when the block ends without an exception
    error: str | None = None
    timings: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)


@contextmanager
def run_lifecycle(store, *, kind: str, command: str, config: dict, device: str,
                  versions: dict | None = None, run_id: str | None = None,
                  host: str | None = None) -> Iterator[RunRecord]:
    """Record a run in ``store``: ``running`` now, then how it ended.

    Inside the block, set ``record.status``/``record.error``/``record.timings`` for a normal
    end (default: completed). Ctrl-C records ``interrupted``, any other exception ``failed``
    with its one-line error; the exception then propagates. ``timings['total']`` is filled
    in when the block does not set it.
    """
    record = RunRecord(run_id=run_id or new_run_id())
    store.start_run(record.run_id, kind=kind, command=command, config=config,
                    config_hash=digest(config), memtool_version=__version__,
                    versions=versions if versions is not None else software_versions(),
                    device=device, host=host or socket.gethostname())

    def timings() -> dict:
        return {"total": record.elapsed(), **record.timings}

    try:
        yield record
    except KeyboardInterrupt:
        store.finish_run(record.run_id, "interrupted", error="interrupted by the user",
                         timings=timings())
        raise
    except Exception as exc:
        store.finish_run(record.run_id, "failed", error=error_line(exc), timings=timings())
        raise
    store.finish_run(record.run_id, record.status, error=record.error, timings=timings())
