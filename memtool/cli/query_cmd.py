"""`memtool query`: ad hoc SQL on the results database (read-only, sandboxed).

The SQL runs in a connection that reaches nothing but the database (see
``memtool.store.connection.open_sandboxed``); ``--out`` is the one way to write a file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import typer

from memtool.cli.common import DB_HELP, console, default_db, user_errors
from memtool.cli.tables import result_table
from memtool.errors import MemtoolError, UsageError

FORMATS = ("table", "csv", "json", "parquet")


@user_errors
def query(
    sql: Optional[str] = typer.Argument(None, help='a SQL query, e.g. "SELECT * FROM best_layer_per_model"'),
    file: Optional[Path] = typer.Option(
        None, "--file", "-F", help="read the SQL from this file (- for stdin)"
    ),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    format: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the result to this file"),
    max_rows: int = typer.Option(100, help="rows shown in table format"),
) -> None:
    """Run SQL on the results database (read-only) and print or save the result."""
    import duckdb

    from memtool.store import Store

    sql = _sql_text(sql, file)
    if format not in FORMATS:
        raise UsageError(f"unknown format '{format}'", hint="use table, csv, json or parquet")
    if format == "parquet" and out is None:
        raise UsageError("parquet output needs a file", hint="add --out FILE.parquet")
    if out is not None:
        check_out_path(out)
    store = Store(db or default_db())
    try:
        frame = store.query_user_sql(sql)
    except duckdb.Error as exc:
        raise query_error(exc) from None
    if format == "table":
        if out is not None:
            raise UsageError("--out needs --format csv, json or parquet")
        console.print(result_table(frame.columns, frame.rows(), max_rows=max_rows))
        return
    if format == "csv":
        text = frame.write_csv()
    elif format == "json":
        text = frame.write_json()
    try:
        if format == "parquet":
            # Through memory: polars reports a full disk as a "thrift transport error".
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            out.write_bytes(buffer.getvalue())
        elif out is not None:
            out.write_text(text)
    except OSError as exc:
        out.unlink(missing_ok=True)  # no half-written file left behind
        raise _write_problem(out, exc) from None
    if out is None:
        typer.echo(text, nl=False)
    if out is not None:
        console.print(f"wrote {frame.height} rows to {out}", highlight=False)


def query_error(exc: Exception) -> "MemtoolError":
    """What a failed user query means, with the hint that fits it (exit 6, as any failed query)."""
    from memtool.errors import StoreError

    text = " ".join(str(exc).split())
    low = text.lower()
    if "read-only mode" in low or "read_only" in low or "read-only" in low:
        return StoreError(
            f"query refused: memtool query is read-only ({_first_sentence(text)})",
            hint="results are written by memtool sweep, finetune and evaluate; "
            "to save a result use --format csv|json|parquet --out FILE",
        )
    if (
        "file system operations are disabled" in low
        or "permissionexception" in low
        or "permission error" in low
    ):
        return StoreError(
            f"query refused: memtool query reads only this database and cannot attach, copy out, "
            f"install or read other files ({_first_sentence(text)})",
            hint="to save a result use --format csv|json|parquet --out FILE",
        )
    if "configuration has been locked" in low:
        return StoreError(
            f"query refused: settings cannot be changed in memtool query ({_first_sentence(text)})"
        )
    if "catalog error" in low:
        return StoreError(f"query failed: {text}", hint='list tables and views with "SHOW ALL TABLES"')
    return StoreError(f"query failed: {text}", hint="check the SQL")


def _first_sentence(text: str) -> str:
    return text.split("!")[0].split(" - ")[0].strip()


def check_out_path(out: Path) -> None:
    """--out must be a file in an existing, writable folder (checked before the query runs)."""
    import os

    folder = out.expanduser().parent if str(out.expanduser().parent) else Path(".")
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory", hint="give a file name, e.g. --out DIR/result.csv")
    if not folder.is_dir():
        raise UsageError(
            f"--out folder {folder} does not exist",
            hint=f"create it first (mkdir -p {folder}) or write elsewhere",
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"cannot write {out}: permission denied", hint="choose a writable --out path")


def _write_problem(out: Path, exc: OSError) -> "MemtoolError":
    import errno

    from memtool.errors import StoreError

    if exc.errno == errno.ENOSPC:
        return StoreError(
            f"no space left on device writing {out}", hint="free space and rerun: nothing committed is lost"
        )
    return UsageError(f"cannot write {out}: {exc.strerror or exc}", hint="choose a writable --out path")


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
