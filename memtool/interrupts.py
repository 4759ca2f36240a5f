"""SIGINT and SIGTERM as exceptions that never cut a store commit in half.

SLURM and Kubernetes send SIGTERM before they kill a job; Python's default is to die at
once with no message. ``handle_signals()`` (installed by every CLI command) turns SIGINT
into KeyboardInterrupt and SIGTERM into ``Terminated`` (a KeyboardInterrupt), so both end
a sweep the same way: the run is marked interrupted and the command exits 130 or 143.
Inside ``critical()`` (every Store write transaction) a signal is held back until the
block ends, so the commit in flight finishes first.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from memtool.errors import Terminated

_depth = 0
_pending: BaseException | None = None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum, frame) -> None:
    global _pending
    exc = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    if _depth > 0:
        _pending = _pending or exc
        return
    raise exc


@contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back until the block ends (main thread; a no-op elsewhere)."""
    global _depth, _pending
    if not _in_main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            exc, _pending = _pending, None
            raise exc


@contextmanager
def handle_signals() -> Iterator[None]:
    """Install the SIGINT/SIGTERM handlers for the block; restores the previous ones."""
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
