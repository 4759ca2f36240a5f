"""Opening DuckDB files: short-lived connections that wait politely for a lock."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb

from memtool.errors import StoreError, StoreLockedError

_LOCK_PATTERN = re.compile(r"lock", re.IGNORECASE)
_PID_PATTERN = re.compile(r"PID (\d+)")


def sql_dir() -> Path:
    """Where the schema and view files are: inside the installed package, else the repo."""
    packaged = resources.files("memtool") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[2] / "sql"
    if repo.is_dir():
        return repo
    raise StoreError(
        "memtool's sql/ files are missing from this installation",
        hint="reinstall memtool (pip install --force-reinstall memtool)",
    )


def _is_lock_error(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and bool(_LOCK_PATTERN.search(str(exc)))


@contextmanager
def open_connection(
    path: Path, *, read_only: bool, lock_timeout: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection, retrying while another process holds the write lock.

    Waits up to ``lock_timeout`` seconds (exponential back-off from 20 ms), then raises
    StoreLockedError naming the process that holds the lock. The connection is closed on
    exit, so the lock is held only for the body of the ``with`` block.
    """
    if read_only and not path.exists():
        raise StoreError(
            f"no results database at {path}", hint="run `memtool sweep` first or pass --db FILE"
        )
    deadline = time.monotonic() + lock_timeout
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.Error as exc:
            if _is_lock_error(exc):
                if time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                pid = _PID_PATTERN.search(str(exc))
                who = f"process {pid.group(1)}" if pid else "another process"
                raise StoreLockedError(
                    f"database {path} is locked by {who} for more than {lock_timeout:.0f} s",
                    hint="wait for that process to finish or use another --db file",
                ) from None
            raise StoreError(
                f"cannot open database {path}: {str(exc).splitlines()[0]}",
                hint="check the path, or move the damaged file aside and rerun",
            ) from None
    try:
        yield con
    finally:
        con.close()
