"""`memtool query`: ad hoc SQL on the results database (read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from memtool.cli.common import DB_HELP, console, default_db, user_errors
from memtool.cli.tables import result_table
from memtool.errors import UsageError

FORMATS = ("table", "csv", "json", "parquet")


@user_errors
def query(
    sql: Optional[str] = typer.Argument(None, help="a SQL query, e.g. \"SELECT * FROM best_layer_per_model\""),
    file: Optional[Path] = typer.Option(None, "--file", "-F", help="read the SQL from this file (- for stdin)"),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    format: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the result to this file"),
    max_rows: int = typer.Option(100, help="rows shown in table format"),
) -> None:
    """Run SQL on the results database (read-only) and print or save the result."""
    import duckdb

    from memtool.errors import StoreError
    from memtool.store import Store

    sql = _sql_text(sql, file)
    if format not in FORMATS:
        raise UsageError(f"unknown format '{format}'", hint="use table, csv, json or parquet")
    if format == "parquet" and out is None:
        raise UsageError("parquet output needs a file", hint="add --out FILE.parquet")
    store = Store(db or default_db())
    try:
        frame = store.query_polars(sql)
    except duckdb.Error as exc:
        raise StoreError(f"query failed: {' '.join(str(exc).split())}",
                         hint="list tables and views with \"SHOW ALL TABLES\"") from None
    if format == "table":
        if out is not None:
            raise UsageError("--out needs --format csv, json or parquet")
        console.print(result_table(frame.columns, frame.rows(), max_rows=max_rows))
        return
    if format == "csv":
        text = frame.write_csv()
    elif format == "json":
        text = frame.write_json()
    if format == "parquet":
        frame.write_parquet(out)
    elif out is not None:
        out.write_text(text)
    else:
        typer.echo(text, nl=False)
    if out is not None:
        console.print(f"wrote {frame.height} rows to {out}", highlight=False)


def _sql_text(sql: str | None, file: Path | None) -> str:
    """The query from the argument or from --file; exactly one of them."""
    import sys

    if (sql is None) == (file is None):
        raise UsageError("give a SQL query or --file FILE (one of them)")
    if file is None:
        return sql
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
