"""Progress for the commands: rich bars on a terminal, plain lines in a log, or nothing."""

from __future__ import annotations

import contextlib

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from memtool.progress import LineReporter


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
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
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

    def context(self, model: str | None) -> None:  # the bars name their task already
        pass


class _QuietTask:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class QuietReporter:
    """--quiet: no bars and no progress lines; messages (what was skipped, resumed) still print."""

    def __init__(self, console: Console):
        self.console = console

    def task(self, description: str, total: int | None) -> _QuietTask:
        return _QuietTask()

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def context(self, model: str | None) -> None:
        pass


class ConsoleLineReporter(LineReporter):
    """LineReporter writing through a rich console (no markup, no wrapping)."""

    def __init__(self, console: Console, every: float = 30.0):
        super().__init__(
            lambda text: console.print(text, highlight=False, markup=False, soft_wrap=True), every=every
        )


@contextlib.contextmanager
def progress_reporter(console: Console, quiet: bool = False):
    """The reporter a command uses: bars on a terminal, plain lines otherwise, none if quiet."""
    if quiet:
        yield QuietReporter(console)
    elif console.is_terminal:
        with RichReporter(console) as reporter:
            yield reporter
    else:
        yield ConsoleLineReporter(console)
