"""The SQL console's query history, kept in a plain SQL file across sessions.

The file lives in the user's data directory: ``$XDG_DATA_HOME/memtool/history.sql``,
else ``~/.local/share/memtool/history.sql`` (``$MEMTOOL_HISTORY`` overrides the whole path).
Each entry starts with a marker comment, so the file stays readable and can be pasted
into any SQL tool::

    -- memtool-history 2026-01-02T03:04:05
    SELECT * FROM best_layer_per_model;
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

MARKER = "-- memtool-history"
MAX_ENTRIES = 500


def default_history_path() -> Path:
    override = os.environ.get("MEMTOOL_HISTORY")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "memtool" / "history.sql"


def parse_history(text: str) -> list[str]:
    """Queries in file order; text before the first marker is ignored."""
    entries: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARKER):
            if current is not None:
                entries.append("\n".join(current).strip())
            current = []
        elif current is not None:
            current.append(line)
    if current is not None:
        entries.append("\n".join(current).strip())
    return [e for e in entries if e]


def _format(query: str, when: datetime) -> str:
    return f"{MARKER} {when.isoformat(timespec='seconds')}\n{query.strip()}\n"


class QueryHistory:
    """Past queries, oldest first, with a browsing cursor for previous/next.

    Writing is best-effort: a history file that cannot be written (read-only home, full
    disk) must not stop a query, so ``add`` returns the OSError instead of raising it.
    """

    def __init__(self, path: Path | None = None, *, max_entries: int = MAX_ENTRIES):
        self.path = path or default_history_path()
        self.max_entries = max_entries
        try:
            self.entries = parse_history(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            self.entries = []
        self.entries = self.entries[-max_entries:]
        self._cursor = len(self.entries)

    def add(self, query: str) -> OSError | None:
        """Record a query (not repeating the latest one) and reset the browsing cursor."""
        query = query.strip()
        self._cursor = len(self.entries)
        if not query or (self.entries and self.entries[-1] == query):
            return None
        self.entries.append(query)
        trimmed = len(self.entries) > self.max_entries
        self.entries = self.entries[-self.max_entries :]
        self._cursor = len(self.entries)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            now = datetime.now()
            if trimmed:
                self.path.write_text("".join(_format(q, now) for q in self.entries), encoding="utf-8")
            else:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(_format(query, now))
        except OSError as exc:
            return exc
        return None

    def previous(self) -> str | None:
        if not self.entries:
            return None
        self._cursor = max(0, self._cursor - 1)
        return self.entries[self._cursor]

    def next(self) -> str | None:
        """The next newer entry, or None when moving past the newest one."""
        if self._cursor >= len(self.entries) - 1:
            self._cursor = len(self.entries)
            return None
        self._cursor += 1
        return self.entries[self._cursor]

    def latest(self) -> str | None:
        return self.entries[-1] if self.entries else None
