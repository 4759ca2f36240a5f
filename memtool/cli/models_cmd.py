"""`memtool models`: which models memtool can build, and which have weights offline."""

from __future__ import annotations

from typing import Optional

import typer

from memtool.cli.common import console, user_errors
from memtool.cli.tables import result_table


@user_errors
def models(
    pattern: Optional[str] = typer.Argument(None, help="filter, e.g. 'resnet*' or '*lite*'"),
    offline: bool = typer.Option(False, "--offline", help="only models with weights on this machine"),
    all_models: bool = typer.Option(False, "--all", help="include architectures without pretrained weights"),
    max_rows: int = typer.Option(200, help="rows shown"),
) -> None:
    """List models by timm/torchvision name, and where their weights would come from here."""
    from memtool.models.registry import list_models

    found = list_models(pattern, pretrained_only=not all_models)
    if offline:
        found = [m for m in found if m.offline_weights]
    rows = [(m.name, m.source, m.offline_weights or "-") for m in found]
    console.print(
        result_table(
            ["model", "source", "weights here"], rows, max_rows=max_rows, title=f"{len(rows)} models"
        )
    )
