"""One read-only connection for a batch of reads, answering in polars frames.

``reading(store)`` opens a read-only connection through ``Store.reader()`` and yields a
``ReadSession`` over it; the connection closes when the ``with`` block ends, so a reader
never holds the database file between two batches and a writer gets its lock in between.
Every function of ``memtool.store.read`` takes such a session.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import duckdb
import polars as pl

from memtool.errors import StoreError
from memtool.store.connection import sql_dir

STANDARD_TARGETS = ("V1", "V2", "V4", "IT", "behavior")
"""Brain regions that ``layer_scores_wide`` carries as columns, in display order."""


LATEST_BRAIN_SCORES = "latest_brain_scores"
"""The one definition of the latest brain score per layer and target (a staging view)."""


def region_order(region: str) -> tuple[int, str]:
    """Sort key: the standard regions in V1..behavior order, then the others by name."""
    order = {t: i for i, t in enumerate(STANDARD_TARGETS)}
    return order.get(region, len(order)), region


class ReadSession:
    """Reads on one open read-only connection; relation names are looked up once."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str = ""):
        self.con = con
        self.path = path
        self._relations: set[str] | None = None

    def frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """The result of one query as a polars frame."""
        relation = self.con.sql(sql, params=list(params) if params else None)
        return pl.DataFrame() if relation is None else relation.pl()

    def row(self, sql: str, params: Sequence[Any] | None = None) -> tuple:
        """The first row of one query (for summaries of counts)."""
        return tuple(self.con.execute(sql, list(params) if params else []).fetchall()[0])

    def relations(self) -> set[str]:
        """Names of the tables and views in the store's main schema."""
        if self._relations is None:
            self._relations = set(
                self.frame("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")[
                    "table_name"
                ].to_list()
            )
        return self._relations

    def has(self, *relations: str) -> bool:
        return all(r in self.relations() for r in relations)

    def columns_of(self, relation: str) -> list[str]:
        return self.frame(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main'"
            " AND table_name = ? ORDER BY ordinal_position",
            [relation],
        )["column_name"].to_list()

    def select_present(self, relation: str, wanted: Sequence[str], tail: str = "") -> pl.DataFrame:
        """SELECT the wanted columns that ``relation`` has (the others come back as NULL).

        Stores written by an older memtool lack some columns of the optional tables."""
        have = set(self.columns_of(relation))
        cols = ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)
        return self.frame(f"SELECT {cols} FROM {relation} {tail}")

    def ensure_view(self, name: str) -> None:
        """Make view ``name`` readable: a store written before memtool had it gets it as a
        temporary view of this connection, from the same file under sql/views/ (a read-only
        connection may create temporary objects, and the file stays untouched)."""
        if name in self.relations():
            return
        root = sql_dir() / "views"
        path = next(
            (p for p in (root / "staging" / f"{name}.sql", root / f"{name}.sql") if p.is_file()), None
        )
        if path is None:
            raise StoreError(f"memtool has no view {name}", hint="reinstall memtool")
        text = path.read_text(encoding="utf-8")
        try:
            self.con.execute(text.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW", 1))
        except duckdb.CatalogException:
            return  # a store that lacks the tables under it: the reads that need it say so
        self._relations = None


@contextmanager
def reading(store, path: str | None = None) -> Iterator[ReadSession]:
    """A ReadSession on a read-only connection to ``store`` (a ``memtool.store.Store``).

    ``latest_brain_scores`` is readable in every session, also on a store written before
    that view existed (see ``ReadSession.ensure_view``)."""
    with store.reader() as con:
        session = ReadSession(con, str(store.path) if path is None else path)
        session.ensure_view(LATEST_BRAIN_SCORES)
        yield session
