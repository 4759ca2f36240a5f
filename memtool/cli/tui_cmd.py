"""`memtool tui`: explore a results database in a terminal app (read-only)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from memtool.cli.common import DB_HELP, default_db, user_errors
from memtool.errors import UsageError


@user_errors
def tui(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    refresh: float = typer.Option(
        5.0, "--refresh", min=0.0, help="seconds between re-reads of the shown screen (0: only on r)"
    ),
) -> None:
    """Browse runs, layers, brain correlations, fine-tuning and SQL in the terminal.

    Opens the database read-only, so it is safe while a sweep writes to the same file.
    Keys: 1-5 screens, r refresh, q quit; the footer lists each screen's keys.
    """
    from memtool.tui import create_app  # Textual loads only for this command

    app = create_app(db or default_db(), auto_refresh=refresh or None)
    if not (sys.stdin.isatty() and sys.__stderr__.isatty()):
        raise UsageError(
            "memtool tui needs an interactive terminal", hint="use `memtool query SQL` in scripts and pipes"
        )
    app.run()
