"""Rich progress bars behind the core's Reporter protocol."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class _RichTask:
    def __init__(self, progress: Progress, task_id):
        self.progress = progress
        self.task_id = task_id

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task_id, n)

    def close(self) -> None:
        self.progress.update(self.task_id, visible=False)
        self.progress.remove_task(self.task_id)


class RichReporter:
    """Context manager showing one bar per running task and printing messages above them."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, transient=True,
        )

    def __enter__(self) -> "RichReporter":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def task(self, description: str, total: int | None) -> _RichTask:
        return _RichTask(self.progress, self.progress.add_task(description, total=total))

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)
