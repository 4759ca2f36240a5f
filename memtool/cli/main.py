"""The `memtool` command: a Typer app whose commands import their heavy parts lazily."""

from __future__ import annotations

import typer

from memtool import __version__
from memtool.cli import data_cmd
from memtool.cli.analyze_cmd import analyze
from memtool.cli.finetune_cmd import finetune
from memtool.cli.ingest_cmd import ingest
from memtool.cli.models_cmd import models
from memtool.cli.predict_cmd import evaluate, predict
from memtool.cli.query_cmd import query
from memtool.cli.report_cmd import report
from memtool.cli.sweep_cmd import sweep
from memtool.cli import study_cmd
from memtool.cli.tui_cmd import tui

app = typer.Typer(
    name="memtool",
    help="Which layers of vision networks predict image memorability, and are they brain-like?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(sweep)
app.command()(query)
app.command()(report)
app.command()(models)
app.command()(tui)
app.command()(analyze)
app.command()(finetune)
app.command()(predict)
app.command()(evaluate)
app.command()(ingest)
app.add_typer(data_cmd.app, name="data")
app.add_typer(study_cmd.app, name="study")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"memtool {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """memtool: layer-wise memorability and brain-similarity studies of vision networks."""


def run() -> None:
    app()
