"""The results store: a DuckDB file with migrations from ``sql/`` and typed reads/writes.

The store is the only writer of the database. Connections are short-lived (one per
operation) so that a long sweep never holds the file's lock for its whole duration: a TUI
or ``memtool query`` in another process gets in between two commits.
"""

from memtool.store.store import Store

__all__ = ["Store"]
