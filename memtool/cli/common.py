"""What every command shares: the console, the error boundary, the default database."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console, ConsoleDimensions

from memtool.errors import MemtoolError, Terminated

NON_TERMINAL_WIDTH = 10_000  # piped or logged output: no 80-column limit to cut tables at


class _Console(Console):
    """A rich Console that, when its output is not a terminal, uses the full width.

    Rich assumes 80 columns for pipes and log files and cuts wide tables to fit; a
    terminal's width (or $COLUMNS) is still honoured.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(NON_TERMINAL_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size) -> None:
        Console.size.fset(self, new_size)


console = _Console()
err_console = _Console(stderr=True)

DEFAULT_DB = "memtool.duckdb"
DB_HELP = "results database (DuckDB file); default ./memtool.duckdb or $MEMTOOL_DB"


def default_db() -> Path:
    return Path(os.environ.get("MEMTOOL_DB", DEFAULT_DB))


def command_line() -> str:
    return " ".join(["memtool", *sys.argv[1:]])


def fail(exc: MemtoolError) -> None:
    err_console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def user_errors(fn: Callable) -> Callable:
    """The error boundary of every command.

    MemtoolError -> one red line + its exit code; Ctrl-C (SIGINT) -> exit 130 and SIGTERM
    (what SLURM and Kubernetes send before a kill) -> exit 143, both with the same line,
    after the store commit in flight has finished (memtool.interrupts); a full disk -> one
    line and exit 6.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from memtool.interrupts import handle_signals

        try:
            with handle_signals():
                return fn(*args, **kwargs)
        except MemtoolError as exc:
            fail(exc)
        except KeyboardInterrupt as exc:
            err_console.print(
                "[yellow]interrupted:[/] everything committed so far is kept; "
                "run the same command again to resume",
                highlight=False,
            )
            raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
        except Exception as exc:
            if _disk_full(exc):
                from memtool.errors import StoreError

                where = getattr(exc, "filename", None) or "a file"
                fail(
                    StoreError(
                        f"no space left on device writing {where}",
                        hint="free space and rerun: nothing committed is lost",
                    )
                )
            raise

    return wrapper


def _disk_full(exc: BaseException) -> bool:
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return "no space left on device" in str(exc).lower()
