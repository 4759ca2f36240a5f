"""Numbered schema files applied once and recorded; macros and views re-created every time.

``sql/schema/NNN_name.sql`` files are applied in order, each in its own transaction, and
recorded in ``schema_migrations`` with a checksum, so applying twice is a no-op.
After the schema, ``sql/views/macros.sql`` (the shared expressions: average ranks, Fisher-z
intervals, partial correlation, as DuckDB macros), then the staging views
(``sql/views/staging/*.sql``), then the final views (``sql/views/*.sql``) are (re)created,
so that a new memtool brings its new views to old files. Each view file holds one
``CREATE OR REPLACE VIEW`` named after the file and declares the views it reads in a
``-- depends on: a, b`` line; views are created in that declared order (staging before
final, each after its dependencies), and a dependency that names no view file, a final
view that a staging view depends on, or a cycle is an error before anything is created.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb

from memtool.errors import StoreError
from memtool.store.connection import is_disk_full

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    checksum   VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


def schema_files(root: Path) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted((root / "schema").glob("*.sql")):
        head = path.stem.split("_", 1)[0]
        if not head.isdigit():
            raise StoreError(f"schema file {path.name} does not start with a number")
        found.append((int(head), path.stem, path))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two schema files share a number in {root / 'schema'}")
    return found


MACROS = "macros.sql"
_DEPENDS = re.compile(r"^--\s*depends on:(.*)$", re.MULTILINE)


def staging_view_files(root: Path) -> list[Path]:
    return sorted((root / "views" / "staging").glob("*.sql"))


def final_view_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "views").glob("*.sql") if p.name != MACROS)


def view_files(root: Path) -> list[Path]:
    """Every view file, staging and final (not the macros file)."""
    return staging_view_files(root) + final_view_files(root)


def declared_dependencies(path: Path) -> set[str]:
    """The views a view file declares it reads (its ``-- depends on:`` lines)."""
    names: set[str] = set()
    for line in _DEPENDS.findall(path.read_text()):
        names |= {n.strip() for n in line.split(",") if n.strip()}
    return names


def view_order(root: Path) -> list[Path]:
    """Staging views, then final views, each after the views it declares it depends on."""
    staging, final = staging_view_files(root), final_view_files(root)
    by_name = {p.stem: p for p in staging + final}
    if len(by_name) != len(staging) + len(final):
        raise StoreError(f"two view files share a name under {root / 'views'}")
    staged = {p.stem for p in staging}
    order: list[Path] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(path: Path, chain: tuple[str, ...]) -> None:
        name = path.stem
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise StoreError(f"views depend on each other in a cycle: {' -> '.join(chain + (name,))}")
        state[name] = "visiting"
        for dep in sorted(declared_dependencies(path)):
            if dep not in by_name:
                raise StoreError(f"view {path.name} depends on '{dep}', which no view file defines")
            if name in staged and dep not in staged:
                raise StoreError(f"staging view {path.name} depends on final view '{dep}'")
            visit(by_name[dep], chain + (name,))
        state[name] = "done"
        order.append(path)

    for path in staging + final:
        visit(path, ())
    return order


def apply_migrations(con: duckdb.DuckDBPyConnection, root: Path) -> list[str]:
    """Apply pending schema files and (re)create all views; return the names applied."""
    con.execute(MIGRATIONS_TABLE)
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, path in schema_files(root):
        if version in done:
            continue
        text = path.read_text()
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(text)
            con.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                [version, name, hashlib.sha1(text.encode()).hexdigest()],
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            if is_disk_full(exc):  # the writer reports it as the one disk-full line
                raise
            raise StoreError(f"schema migration {path.name} failed: {exc}") from None
        applied.append(name)
    _create_views(con, root)
    return applied


def _create_views(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """The macros, then every view in its declared order (see ``view_order``)."""
    order = view_order(root)
    macros = root / "views" / MACROS
    for path in ([macros] if macros.exists() else []) + order:
        try:
            con.execute(path.read_text())
        except duckdb.Error as exc:
            if is_disk_full(exc):
                raise
            raise StoreError(
                f"view file {path.name} cannot be created: {' '.join(str(exc).split())}"
            ) from None
