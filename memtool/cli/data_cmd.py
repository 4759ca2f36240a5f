"""`memtool data check`: validate a data set and print its summary."""

from __future__ import annotations

from typing import List, Optional

import typer

from memtool.cli.common import console, user_errors
from memtool.cli.tables import result_table
from memtool.errors import DataError

app = typer.Typer(help="Inspect memorability data sets.", no_args_is_help=True)


@app.command("check")
@user_errors
def check(
    spec: str = typer.Argument("demo", help="demo | lamem:DIR | lnsim:DIR | csv:FILE | a path"),
    folds: int = typer.Option(5, help="K for K-fold CV when the set has no splits"),
    seed: int = typer.Option(0),
    split: Optional[List[int]] = typer.Option(None, help="published split(s) (LaMem)"),
    images: bool = typer.Option(True, "--images/--no-images", help="open every image"),
) -> None:
    """Load a data set, open every image and print a summary; exit 3 if anything is wrong."""
    from memtool.cli.progress import RichReporter
    from memtool.data.memorability import check_images, load_memorability, summarize

    from memtool.data.validate import require_scorable

    dataset = load_memorability(spec, folds=folds, seed=seed, splits=list(split) if split else None)
    # the summary first, then what is wrong
    summary = summarize(dataset)
    rows = [(k, _splits_text(v) if k == "splits" else v) for k, v in summary.items()]
    console.print(result_table(["field", "value"], rows, title=f"data set {dataset.spec}"))
    if images:
        with RichReporter(console) as reporter:
            task = reporter.task("open images", len(dataset.items))
            bad = check_images(dataset, progress=lambda done, total: task.advance())
            task.close()
        if bad:
            for path, reason in bad[:20]:
                console.print(f"[red]bad image[/] {path}: {reason}", highlight=False)
            raise DataError(
                f"{len(bad)} of {len(dataset.items)} images cannot be read (first: {bad[0][0]})",
                hint="fix or remove them, then check again",
            )
        console.print(f"[green]ok[/]: all {len(dataset.items)} images open", highlight=False)
    require_scorable(dataset)  # equal scores, splits too small for a rank correlation
    console.print(f"[green]ok[/]: every split can be scored ({len(dataset.splits)} splits)", highlight=False)


def _splits_text(splits: list[dict]) -> str:
    """One line per split: name and train/val/test sizes."""
    return "\n".join(
        f"{s['name']}: train {s['train']}"
        + (f", val {s['val']}" if s.get("val") else "")
        + f", test {s['test']}"
        for s in splits
    )
