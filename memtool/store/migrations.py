"""Numbered schema files applied once and recorded; views re-created every time.

``sql/schema/NNN_name.sql`` files are applied in order, each in its own transaction, and
recorded in ``schema_migrations`` with a checksum, so applying twice is a no-op.
``sql/views/*.sql`` hold one ``CREATE OR REPLACE VIEW`` each, named after the file; they
are (re)created after the schema so that a new memtool brings its new views to old files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from memtool.errors import StoreError

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


def view_files(root: Path) -> list[Path]:
    return sorted((root / "views").glob("*.sql"))


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
            raise StoreError(f"schema migration {path.name} failed: {exc}") from None
        applied.append(name)
    _create_views(con, view_files(root))
    return applied


def _create_views(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """Create views in dependency order by retrying the ones that name a missing view."""
    pending = list(files)
    while pending:
        failed = []
        last_error: Exception | None = None
        for path in pending:
            try:
                con.execute(path.read_text())
            except duckdb.CatalogException as exc:
                failed.append(path)
                last_error = exc
        if len(failed) == len(pending):
            raise StoreError(f"view {failed[0].name} cannot be created: {last_error}")
        pending = failed
