"""The MemtoolError family: every user-facing failure is one line with the fix.

Each error carries a message (what went wrong, naming the file, model or line) and an
optional hint (what to do about it). The CLI prints ``error: <message> (<hint>)`` and
exits with the class's exit code; nothing else in the core prints.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


class MemtoolError(Exception):
    """Base class: a failure the user can fix. Never raised for programming errors."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        if self.hint:
            text += f" ({self.hint.rstrip('.')})"
        return " ".join(text.split())


class UsageError(MemtoolError):
    """Bad option values or combinations."""

    exit_code = 2


class DataError(MemtoolError):
    """A data set that cannot be read: missing files, bad scores, bad images."""

    exit_code = 3


class ModelError(MemtoolError):
    """Unknown model name or a model that cannot be built."""

    exit_code = 4


class WeightsError(ModelError):
    """Pretrained weights that cannot be found or do not fit the model."""

    exit_code = 5


class StoreError(MemtoolError):
    """The results database cannot be opened, migrated or written."""

    exit_code = 6


class StoreLockedError(StoreError):
    """Another process holds the database's write lock for longer than we wait."""

    exit_code = 7


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler stopping the job), handled like Ctrl-C: exit 143 instead of 130."""


def ending(exc: BaseException) -> tuple[str, str]:
    """``(status, error)`` that a record (a run, a fine-tuning run, a study item) keeps when
    ``exc`` ends it: ``interrupted`` for Ctrl-C or SIGTERM, else ``failed`` with one line."""
    if isinstance(exc, Terminated):
        return "interrupted", "terminated by SIGTERM"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "interrupted by the user"
    if isinstance(exc, MemtoolError):
        return "failed", exc.one_line()
    return "failed", f"{type(exc).__name__}: {exc}"


@contextmanager
def recording_failure(finish: Callable[[str, str], None]) -> Iterator[None]:
    """Run the block; when an exception (Ctrl-C and SIGTERM included) ends it, call
    ``finish(status, error)`` as :func:`ending` names them, and let the exception go on."""
    try:
        yield
    except (KeyboardInterrupt, Exception) as exc:
        finish(*ending(exc))
        raise


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
