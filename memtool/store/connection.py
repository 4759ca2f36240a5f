"""Opening DuckDB files: short-lived connections that wait politely for a lock.

Writers wait for the lock for as long as it takes (a reader left open in a notebook must
not kill a sweep), saying every 30 s which process holds it; readers give up after a
timeout. User SQL runs in a sandboxed read-only connection (``open_sandboxed``).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from memtool.errors import StoreError, StoreLockedError

_LOCK_PATTERN = re.compile(r"lock", re.IGNORECASE)
_PID_PATTERN = re.compile(r"PID (\d+)")
WAIT_MESSAGE_EVERY = 30.0  # seconds between "still waiting for the lock" messages


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


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError with ENOSPC and for DuckDB's "No space left on device"."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return isinstance(exc, duckdb.Error) and "no space left on device" in str(exc).lower()


def disk_full_error(path: Path | str) -> StoreError:
    return StoreError(
        f"no space left on device writing {path}", hint="free space and rerun: nothing committed is lost"
    )


def holder_of(exc: Exception) -> str:
    """ "process 1234 (python -m memtool sweep ...)" from a DuckDB lock error, as far as known."""
    match = _PID_PATTERN.search(str(exc))
    if not match:
        return "another process"
    pid = match.group(1)
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cmd = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        cmd = ""
    if len(cmd) > 80:
        cmd = cmd[:77] + "..."
    return f"process {pid} ({cmd})" if cmd else f"process {pid}"


def _open_problem(path: Path, exc: duckdb.Error, read_only: bool) -> StoreError:
    """Say what is actually wrong with a file DuckDB cannot open (not always damage)."""
    text = str(exc)
    first = " ".join(text.splitlines()[0].split()) if text.strip() else type(exc).__name__
    if is_disk_full(exc):
        return disk_full_error(path)
    if path.is_dir():
        return StoreError(
            f"{path} is a directory, not a results database",
            hint="pass the .duckdb file that `memtool sweep` wrote, e.g. --db DIR/memtool.duckdb",
        )
    if "permission denied" in text.lower() or (
        path.exists() and not os.access(path, os.R_OK if read_only else os.R_OK | os.W_OK)
    ):
        need = "read" if read_only else "read and write"
        return StoreError(
            f"permission denied opening database {path}",
            hint=f"this user needs {need} access to the file and its folder, or pass another --db",
        )
    if path.is_file() and path.stat().st_size == 0:
        return StoreError(
            f"{path} is an empty file (0 bytes), not a DuckDB database",
            hint="delete it (memtool creates the database on the next sweep) or pass another --db",
        )
    if "not a valid duckdb database" in text.lower():
        return StoreError(
            f"{path} is not a DuckDB database file (unknown header)",
            hint="pass the .duckdb file that `memtool sweep` wrote; if this is a "
            "damaged results database, move it aside and rerun",
        )
    return StoreError(
        f"cannot open database {path}: {first}", hint="check the path, its permissions and the free space"
    )


def _notify(message: str) -> None:
    logging.getLogger("memtool.store").warning(message)


@contextmanager
def open_connection(
    path: Path,
    *,
    read_only: bool,
    lock_timeout: float | None = 30.0,
    on_wait: Callable[[str], None] | None = None,
    wait_message_every: float | None = None,
    config: dict | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection, retrying while another process holds the write lock.

    Waits up to ``lock_timeout`` seconds (exponential back-off from 20 ms, at most 0.5 s
    between tries), then raises StoreLockedError naming the process that holds the lock.
    ``lock_timeout=None`` waits for as long as it takes, calling ``on_wait`` (default: a
    warning on the ``memtool.store`` logger, which reaches stderr) every
    ``wait_message_every`` seconds (default ``WAIT_MESSAGE_EVERY``) with a line naming the
    holder. ``config`` is passed to ``duckdb.connect``. The connection is closed on exit,
    so the lock is held only for the body of the ``with`` block.
    """
    if read_only and not path.exists():
        raise StoreError(f"no results database at {path}", hint="run `memtool sweep` first or pass --db FILE")
    if path.is_dir():
        raise _open_problem(path, duckdb.IOException("Is a directory"), read_only)
    started = time.monotonic()
    deadline = None if lock_timeout is None else started + lock_timeout
    every = WAIT_MESSAGE_EVERY if wait_message_every is None else wait_message_every
    next_message = started + every
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config or {})
            break
        except duckdb.Error as exc:
            if _is_lock_error(exc):
                now = time.monotonic()
                if deadline is None or now < deadline:
                    if deadline is None and now >= next_message:
                        (on_wait or _notify)(
                            f"waiting for database {path}: {holder_of(exc)} holds it "
                            f"({now - started:.0f} s so far; nothing is lost meanwhile)"
                        )
                        next_message = now + every
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                raise StoreLockedError(
                    f"database {path} is locked by {holder_of(exc)} for more than {lock_timeout:.0f} s",
                    hint="wait for that process to finish or use another --db file",
                ) from None
            raise _open_problem(path, exc, read_only) from None
    try:
        yield con
    finally:
        con.close()


SANDBOX_CONFIG = {"enable_external_access": False, "lock_configuration": True}


@contextmanager
def open_sandboxed(
    path: Path, *, lock_timeout: float = 30.0, threads: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for user SQL (``memtool query``, the TUI's SQL console).

    Besides being read-only it cannot reach anything but this database: external access
    is off (no ATTACH, COPY ... TO, EXPORT, INSTALL, read_csv/read_text of other files)
    and the configuration is locked, so no SET can turn that back on. ``threads`` is
    fixed here because SET threads is locked too.
    """
    config = dict(SANDBOX_CONFIG)
    if threads is not None:
        config["threads"] = int(threads)
    with open_connection(path, read_only=True, lock_timeout=lock_timeout, config=config) as con:
        yield con
