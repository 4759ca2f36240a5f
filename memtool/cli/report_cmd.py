"""`memtool report`: figures and an HTML summary of a results database."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import DB_HELP, console, default_db, user_errors


@user_errors
def report(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    out: Path = typer.Option(
        Path("report"), "--out", "-o", help="directory for index.html and figures/ (created if needed)"
    ),
    run: Optional[List[str]] = typer.Option(
        None, "--run", help="only what this run wrote (id or unique prefix); repeatable"
    ),
    model: Optional[List[str]] = typer.Option(
        None, "--model", "-m", help="model name or glob, e.g. 'resnet*' or 'timm:*'; repeatable"
    ),
    target: Optional[List[str]] = typer.Option(
        None, "--target", "-t", help="brain target to show: V1, V2, V4, IT, behavior; repeatable"
    ),
) -> None:
    """Write the study's figures (PNG + SVG) and an index.html that summarises the database.

    Parts the database does not hold yet (brain scores, fine-tuning) are listed on the page
    and here, with the command that fills them. The same database gives identical files.
    """
    from memtool.report import build_report

    result = build_report(
        db or default_db(), out, runs=run or None, models=model or None, targets=target or None
    )
    n_fig = len(result.figures)
    console.print(
        f"wrote {result.index} and {n_fig} figure{'s' * (n_fig != 1)} "
        f"(PNG + SVG) in {result.out_dir / 'figures'}",
        highlight=False,
        soft_wrap=True,
    )
    for line in result.missing:
        console.print(f"[yellow]missing:[/] {line}", highlight=False, soft_wrap=True)
    if result.removed:
        console.print(
            f"removed {len(result.removed)} figure file(s) of an earlier report "
            "that this selection does not produce",
            highlight=False,
            soft_wrap=True,
        )
