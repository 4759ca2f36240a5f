"""What every command shares: the console, the error boundary, the default database."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console

from memtool.errors import MemtoolError

console = Console()
err_console = Console(stderr=True)

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
    """Turn MemtoolError into one red line + its exit code, Ctrl-C into a clean exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MemtoolError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted:[/] everything committed so far is kept; "
                "run the same command again to resume", highlight=False)
            raise typer.Exit(130) from None

    return wrapper
