"""`memtool ingest`: load result shards (from Ray workers) into the database, exactly once."""

from __future__ import annotations

from pathlib import Path

import typer

from memtool.cli.common import DB_HELP, console, default_db, user_errors
from memtool.errors import DataError


@user_errors
def ingest(
    results_dir: Path = typer.Argument(
        ..., help="results directory of a --engine ray sweep (e.g. memtool.shards)"
    ),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Ingest Parquet result shards into the database; shards ingested before are skipped."""
    from memtool.store.shards import ingest_shards
    from memtool.store import Store

    if not results_dir.is_dir():
        raise DataError(
            f"no results directory at {results_dir}",
            hint="pass the --results-dir of the sweep (default: <db>.shards)",
        )
    store = Store(db or default_db())
    store.migrate()
    result = ingest_shards(store, results_dir)
    rows = ", ".join(f"{n} {t}" for t, n in sorted(result.rows.items())) or "no rows"
    console.print(
        f"ingested {result.shards} shards ({rows}); {result.skipped} already in {store.path}", highlight=False
    )
