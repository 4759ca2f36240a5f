"""Progress reporting the core can call without knowing who displays it.

The core emits ``task(description, total)`` handles and ``message(text)`` lines; the CLI
plugs in rich progress bars, tests use the silent default.
"""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def advance(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


class Reporter(Protocol):
    def task(self, description: str, total: int | None) -> Task: ...
    def message(self, text: str) -> None: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class NullReporter:
    """Records messages (useful in tests) and shows nothing."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def task(self, description: str, total: int | None) -> Task:
        return _NullTask()

    def message(self, text: str) -> None:
        self.messages.append(text)


# ------------------------------------------------------------------ plain lines for logs


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class _LineTask:
    def __init__(self, owner: "LineReporter", description: str, total: int | None):
        self.owner = owner
        self.description = description
        self.total = total
        self.done = 0
        self.started = owner.clock()
        self.last = self.started
        self.closed = False
        owner.emit(self.line("start"))

    def line(self, state: str) -> str:
        now = self.owner.clock()
        elapsed = now - self.started
        parts = [self.owner.context_text() + self.description]
        if self.total:
            parts.append(f"{self.done}/{self.total}")
        elif self.done:
            parts.append(f"{self.done} done")
        parts.append(f"elapsed {_clock(elapsed)}")
        if state == "done":
            parts.append("done")
        elif self.total and self.done:
            parts.append(f"eta {_clock(elapsed / self.done * (self.total - self.done))}")
        elif state == "start":
            parts.append("started")
        return " | ".join(parts)

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.owner.clock()
        if now - self.last >= self.owner.every and not (self.total and self.done >= self.total):
            self.last = now
            self.owner.emit(self.line("progress"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.owner.emit(self.line("done"))


class LineReporter:
    """Progress as plain lines, for output that is not a terminal (a log file, a SLURM job).

    Every task prints a line when it starts and when it ends (the stage boundaries) and
    at most one line every ``every`` seconds in between: ``[model i/N] stage | done/total |
    elapsed | eta``. The model context comes from :meth:`context` or from the ``[i/N] NAME``
    messages the sweep and fine-tuning loops print.
    """

    def __init__(self, write, *, every: float = 30.0, clock=None, prefix: str = "") -> None:
        import re
        import time

        self.write = write
        self.every = every
        self.clock = clock or time.monotonic
        self.prefix = prefix
        self.model: str | None = None
        self.outer: str | None = None  # set by context(): wins over the [i/N] messages
        self._pattern = re.compile(r"^\[(\d+)/(\d+)\]\s+(.+)$")

    def context(self, model: str | None) -> None:
        self.outer = model

    def context_text(self) -> str:
        where = self.outer or self.model
        return f"{self.prefix}[{where}] " if where else self.prefix

    def emit(self, text: str) -> None:
        self.write(text)

    def task(self, description: str, total: int | None) -> Task:
        return _LineTask(self, description, total)

    def message(self, text: str) -> None:
        m = self._pattern.match(text.strip())
        if m:
            self.model = f"model {m.group(1)}/{m.group(2)} {m.group(3)}"
        self.write(text)
