"""How the TUI opens the store: read sessions for the screens and the SQL console's queries.

What the screens read is ``memtool.store.read`` (polars frames, shared with the report and
``memtool analyze``); this module adds only what the TUI needs around it, and no Textual:
``StoreReader.session()`` opens one read-only connection for a screen's batch of reads and
closes it right after, and each console query gets its own, interruptible from the UI
thread through a ``QueryHandle``. So the TUI never holds the database file between two
loads: a sweep or fine-tune writing to the same file gets its lock in between, and the TUI
sees the new rows on its next load. Sessions are opened inside worker threads.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from memtool.errors import StoreError
from memtool.store import Store
from memtool.store.read import ReadSession, match_models, reading

__all__ = ["CONSOLE_THREADS", "QueryCancelled", "QueryHandle", "SqlResult", "StoreReader", "match_models"]
REQUIRED_RELATIONS = (
    "runs",
    "datasets",
    "models",
    "layers",
    "layer_scores",
    "layer_scores_wide",
    "run_overview",
)
clock = time.perf_counter  # what console timings use (snapshot tests stop it)
# Console queries leave one core to the UI thread, so a long query never freezes the keys.
CONSOLE_THREADS = max(1, (os.cpu_count() or 2) - 1)


@dataclass
class SqlResult:
    """What one console query returned: a polars frame (None for statements without rows)."""

    frame: Any
    seconds: float


class QueryCancelled(Exception):
    """The console query was interrupted by the user."""


@dataclass
class QueryHandle:
    """Lets the UI thread interrupt the query that a worker thread is running."""

    cancelled: bool = False
    _con: duckdb.DuckDBPyConnection | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, con: duckdb.DuckDBPyConnection | None) -> None:
        with self._lock:
            self._con = con

    def cancel(self) -> None:
        """Mark the query cancelled and interrupt it if it is running (idempotent)."""
        with self._lock:
            self.cancelled = True
            if self._con is not None:
                try:
                    self._con.interrupt()
                except duckdb.Error:
                    pass


class StoreReader:
    """Read-only access to a memtool store for the TUI.

    ``session()`` opens one read-only connection for a batch of reads (one screen load)
    and closes it at the end of the ``with`` block; ``run_sql`` does the same for one
    console query. Nothing stays open in between.
    """

    def __init__(self, path: str | Path, *, lock_timeout: float = 10.0):
        self.store = Store(path, lock_timeout=lock_timeout)
        self.path = self.store.path
        self.display_path = str(path)  # as the user typed it, for titles

    @contextmanager
    def session(self) -> Iterator[ReadSession]:
        with reading(self.store, self.display_path) as session:
            yield session

    def validate(self) -> None:
        """Raise StoreError unless ``path`` is a readable memtool store with its views."""
        if self.path.is_dir():
            raise StoreError(
                f"{self.path} is a directory, not a results database",
                hint="pass the .duckdb file that `memtool sweep` wrote",
            )
        with self.session() as s:
            missing = [name for name in REQUIRED_RELATIONS if name not in s.relations()]
        if missing:
            raise StoreError(
                f"{self.path} lacks {', '.join(missing)}: written by an older or unfinished memtool",
                hint="run any `memtool sweep --db FILE` with this memtool to upgrade it",
            )

    # -- SQL console -------------------------------------------------------------------------
    def run_sql(self, sql: str, handle: QueryHandle | None = None) -> SqlResult:
        """Run console SQL on the sandboxed read-only connection; interruptible through ``handle``.

        Raises duckdb.Error for bad SQL (the console shows it), QueryCancelled when the
        handle was cancelled, StoreError when the file cannot be opened.
        """
        handle = handle or QueryHandle()
        start = clock()
        # The same sandbox as `memtool query`: read-only, no ATTACH / COPY / file reads.
        with self.store.sandboxed(threads=CONSOLE_THREADS) as con:
            handle.attach(con)
            try:
                if handle.cancelled:
                    raise QueryCancelled()
                relation = con.sql(sql)  # None for statements without a result set
                frame = relation.pl() if relation is not None else None
            except duckdb.InterruptException:
                raise QueryCancelled() from None
            except duckdb.Error:
                if handle.cancelled:
                    raise QueryCancelled() from None
                raise
            finally:
                handle.attach(None)
        if handle.cancelled:
            raise QueryCancelled()
        return SqlResult(frame, clock() - start)
