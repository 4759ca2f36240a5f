"""Typed reads and writes of the results database."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import duckdb

from memtool.errors import StoreError
from memtool.interrupts import critical
from memtool.store.connection import (
    disk_full_error,
    is_disk_full,
    open_connection,
    open_sandboxed,
    sql_dir,
)
from memtool.store.migrations import apply_migrations

from memtool.store.tables import (  # noqa: F401  (LAYER_COLUMNS ... re-exported: their old home)
    BRAIN_SCORE_COLUMNS,
    BRAIN_SETUP_COLUMNS,
    BRAIN_TARGET_COLUMNS,
    DATASET_COLUMNS,
    LAYER_COLUMNS,
    MODEL_COLUMNS,
    SCORE_COLUMNS,
    SETUP_COLUMNS,
    insert_rows,
)

READ_LOCK_TIMEOUT = 30.0  # seconds a reader waits for a writer before giving up (exit 7)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Store:
    """A memtool results database at ``path``.

    Every method opens its own short-lived connection (see ``open_connection``), so one
    Store object is safe to share between threads and never holds the file's lock between
    calls.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ):
        self.path = Path(path).expanduser().resolve()
        # None: readers give up after READ_LOCK_TIMEOUT s, writers wait for as long as it
        # takes (a reader held open elsewhere must not kill a sweep) and call ``on_wait``
        # every 30 s with a line naming the holder. A number applies to both.
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            with (
                open_connection(
                    self.path, read_only=False, lock_timeout=self.lock_timeout, on_wait=self.on_wait
                ) as con,
                critical(),
            ):
                # SIGINT/SIGTERM wait for the end of this block: a commit is never cut.
                yield con
        except duckdb.Error as exc:
            if is_disk_full(exc):
                raise disk_full_error(self.path) from None
            raise

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        timeout = READ_LOCK_TIMEOUT if self.lock_timeout is None else self.lock_timeout
        with open_connection(self.path, read_only=True, lock_timeout=timeout) as con:
            self._require_memtool(con)
            yield con

    @contextmanager
    def sandboxed(self, *, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for user SQL that reaches nothing but this database."""
        timeout = READ_LOCK_TIMEOUT if self.lock_timeout is None else self.lock_timeout
        with open_sandboxed(self.path, lock_timeout=timeout, threads=threads) as con:
            self._require_memtool(con)
            yield con

    def _require_memtool(self, con: duckdb.DuckDBPyConnection) -> None:
        if not _is_memtool_store(con):
            raise StoreError(
                f"{self.path} is not a memtool results database (no schema_migrations table)",
                hint="pass the --db file that `memtool sweep` wrote",
            )

    def migrate(self) -> list[str]:
        """Create or upgrade the database; returns the schema files applied now."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(self.path.parent) from None
            raise StoreError(
                f"cannot create the folder {self.path.parent} for the database: {exc.strerror}",
                hint="pass a --db path in a writable folder",
            ) from None
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.writer() as con:
                tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
                if tables and "schema_migrations" not in tables:
                    raise StoreError(
                        f"{self.path} is a DuckDB file but not a memtool results database",
                        hint="pass another --db path",
                    )
                return apply_migrations(con, sql_dir())
        with self.writer() as con:
            return apply_migrations(con, sql_dir())

    # -- generic queries -----------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run SQL read-only; return (column names, rows). DuckDB errors pass through."""
        with self.reader() as con:
            cur = con.execute(sql, params or [])
            if cur.description is None:
                return [], []
            return [d[0] for d in cur.description], cur.fetchall()

    def query_polars(self, sql: str, params: Sequence[Any] | None = None):
        """Run SQL read-only; return a polars DataFrame (empty for statements)."""
        import polars as pl

        with self.reader() as con:
            relation = con.sql(sql, params=list(params) if params else None)
            return pl.DataFrame() if relation is None else relation.pl()

    def query_user_sql(self, sql: str):
        """Run a user's SQL in the sandboxed read-only connection; a polars DataFrame.

        The connection cannot write, attach other files, copy out, install extensions or
        read files other than this database (see ``open_sandboxed``).
        """
        import polars as pl

        with self.sandboxed() as con:
            relation = con.sql(sql)
            return pl.DataFrame() if relation is None else relation.pl()

    # -- runs ----------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        *,
        kind: str,
        command: str,
        config: dict,
        config_hash: str,
        memtool_version: str,
        versions: dict,
        device: str,
        host: str,
    ) -> None:
        with self.writer() as con:
            con.execute(
                "INSERT INTO runs (run_id, kind, command, config, config_hash, memtool_version,"
                " versions, device, host, status, started_at, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    run_id,
                    kind,
                    command,
                    json.dumps(config),
                    config_hash,
                    memtool_version,
                    json.dumps(versions),
                    device,
                    host,
                    "running",
                    _now(),
                    os.getpid(),
                ],
            )

    def close_dead_runs(self, host: str) -> list[str]:
        """Mark 'running' runs of this host whose process is gone as interrupted.

        A sweep killed with kill -9 cannot record its end; the next sweep on the same host
        notices that the process is gone. Runs of other hosts are left as they are.
        """
        with self.writer() as con:
            rows = con.execute(
                "SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
                [host],
            ).fetchall()
            dead = [(run_id, pid) for run_id, pid in rows if not _process_alive(pid)]
            for run_id, pid in dead:
                con.execute(
                    "UPDATE runs SET status = 'interrupted', error = ? WHERE run_id = ?",
                    [f"process {pid} ended without finishing (killed?); rerun the command to resume", run_id],
                )
                # Its tasks cannot still be running either.
                con.execute(
                    "UPDATE sweep_tasks SET status = 'interrupted', updated_at = ?,"
                    " error = coalesce(error, ?) WHERE run_id = ? AND status = 'running'",
                    [_now(), f"process {pid} of the run ended (killed?)", run_id],
                )
        return [run_id for run_id, _ in dead]

    def finish_run(
        self, run_id: str, status: str, *, error: str | None = None, timings: dict | None = None
    ) -> None:
        with self.writer() as con:
            con.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ?, timings = ? WHERE run_id = ?",
                [status, error, _now(), json.dumps(timings or {}), run_id],
            )

    def finish_tasks(self, run_id: str, status: str, error: str) -> None:
        """Mark the run's tasks that are still 'running' as ``status`` (its end, e.g. a signal)."""
        with self.writer() as con:
            con.execute(
                "UPDATE sweep_tasks SET status = ?, error = coalesce(error, ?), updated_at = ?"
                " WHERE run_id = ? AND status = 'running'",
                [status, error, _now(), run_id],
            )

    # -- data sets, models, layers ---------------------------------------------------------
    def adopt_model_ids(self, renames: dict[str, str]) -> list[str]:
        """Rename model ids (old -> new) everywhere they are stored; returns the old ids renamed.

        Used once per store to move rows that memtool < 2026-12 wrote under its partial
        weights digest to the full digest, for weights whose bytes are known to be the
        same (``memtool.models.weights.LEGACY_MODEL_IDS``). A pair whose old id is absent,
        or whose new id is already present, is left alone.
        """
        done = []
        with self.writer() as con:
            present = {r[0] for r in con.execute("SELECT model_id FROM models").fetchall()}
            columns = {
                (t, c)
                for t, c in con.execute(
                    "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal"
                ).fetchall()
            }
            for old, new in renames.items():
                if old not in present or new in present:
                    continue
                con.execute("BEGIN TRANSACTION")
                for table, column in _MODEL_ID_COLUMNS:
                    if (table, column) in columns:
                        con.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new, old])
                con.execute("COMMIT")
                done.append(old)
        return done

    def upsert_dataset(self, row: dict) -> None:
        self._upsert("datasets", row, key=("dataset_id",))

    def upsert_model(self, row: dict) -> None:
        self._upsert("models", row, key=("model_id",))

    def upsert_setup(self, row: dict) -> None:
        self._upsert("setups", row, key=("setup_id",))

    def upsert_task(self, row: dict) -> None:
        """Record a sweep task (a model of a run) and how it ended."""
        self._upsert("sweep_tasks", {**row, "updated_at": _now()}, key=("run_id", "task_id"))

    def scored_layer_map(self, setup_id: str, target: str) -> dict[str, set[str]]:
        """model_id -> layers with a pooled score for this setup and target."""
        out: dict[str, set[str]] = {}
        with self.writer() as con:
            rows = con.execute(
                "SELECT model_id, layer_name FROM layer_scores WHERE setup_id = ? AND target = ?"
                " AND fold = 'pooled'",
                [setup_id, target],
            ).fetchall()
        for model_id, layer in rows:
            out.setdefault(model_id, set()).add(layer)
        return out

    def replace_layers(self, model_id: str, rows: Sequence[dict]) -> None:
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM layers WHERE model_id = ?", [model_id])
            insert_rows(con, "layers", LAYER_COLUMNS, rows)
            con.execute("COMMIT")

    def _upsert(self, table: str, row: dict, key: tuple[str, ...]) -> None:
        cols = list(row)
        values = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in row.values()]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
        with self.writer() as con:
            con.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
                values,
            )

    # -- layer scores ----------------------------------------------------------------------
    def scored_layers(self, model_id: str, setup_id: str, target: str) -> set[str]:
        """Layers that already have a pooled score for this model, setup and target."""
        if not self.path.exists():
            return set()
        with self.writer() as con:
            rows = con.execute(
                "SELECT layer_name FROM layer_scores WHERE model_id = ? AND setup_id = ?"
                " AND target = ? AND fold = 'pooled'",
                [model_id, setup_id, target],
            ).fetchall()
        return {r[0] for r in rows}

    def insert_scores(self, rows: Sequence[dict]) -> None:
        """Insert score rows in one transaction (a layer batch lands whole or not at all)."""
        if not rows:
            return
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            insert_rows(con, "layer_scores", SCORE_COLUMNS, rows, replace=True)
            con.execute("COMMIT")

    # -- brain targets and scores ----------------------------------------------------------
    def register_brain_target(self, records: dict) -> None:
        """Record a brain target: its ``dataset``, ``setup``, ``brain_target`` and (when
        given) ``brain_setup`` rows."""
        self.upsert_dataset(records["dataset"])
        self.upsert_setup(records["setup"])
        self._upsert("brain_targets", records["brain_target"], key=("target_id",))
        if "brain_setup" in records:
            self._upsert("brain_setups", records["brain_setup"], key=("setup_id",))

    def insert_brain_scores(self, rows: Sequence[tuple[dict, dict]]) -> None:
        """(layer_scores row, brain_scores row) pairs of several layers, in one transaction."""
        if not rows:
            return
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            insert_rows(con, "layer_scores", SCORE_COLUMNS, [p for p, _ in rows], replace=True)
            insert_rows(con, "brain_scores", BRAIN_SCORE_COLUMNS, [d for _, d in rows], replace=True)
            con.execute("COMMIT")


_MODEL_ID_COLUMNS = (
    ("models", "model_id"),
    ("layers", "model_id"),
    ("layer_scores", "model_id"),
    ("brain_scores", "model_id"),
    ("finetune_runs", "finetuned_model_id"),
    ("predictions", "predictor_id"),
    ("evaluations", "predictor_id"),
)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_memtool_store(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
    ).fetchall()
    return bool(rows[0][0])
