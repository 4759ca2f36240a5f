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
