"""Result shards: how workers hand rows to the one process that writes the DuckDB file.

A worker never opens the database (DuckDB admits one writing process, and the file may not
even be on the worker's file system). Each commit of a model task becomes one Parquet file
per table, ``<results>/<run_id>/<task_id>/<seq>-<table>.parquet``, written under a temporary
name and renamed, so a reader never sees half a shard. A task's shards carry everything the
in-process store would have received: models, layers, memorability scores, brain targets
(their data set, setup and target rows) and brain scores (a ``brain_scores`` shard, then the
matching ``layer_scores`` shard: a layer counts as done only once both are on disk). ``ingest_shards`` inserts every shard it has
not seen yet and records it in ``ingested_shards`` in the same transaction: ingesting a
directory twice, or after a crash half-way, adds every row exactly once.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import polars as pl

from memtool.store.store import (
    BRAIN_SCORE_COLUMNS,
    BRAIN_SETUP_COLUMNS,
    BRAIN_TARGET_COLUMNS,
    DATASET_COLUMNS,
    LAYER_COLUMNS,
    MODEL_COLUMNS,
    SCORE_COLUMNS,
    SETUP_COLUMNS,
    Store,
)

_STR, _INT, _FLT = pl.Utf8, pl.Int64, pl.Float64


def _typed(columns, ints=(), floats=()) -> dict[str, pl.DataType]:
    return {c: (_INT if c in ints else _FLT if c in floats else _STR) for c in columns}


SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "models": {c: (_INT if c in ("n_params", "n_layers") else _STR) for c in MODEL_COLUMNS},
    "layers": {
        c: (
            _INT
            if c in ("layer_index", "exec_order", "n_features")
            else _FLT
            if c == "relative_depth"
            else _STR
        )
        for c in LAYER_COLUMNS
    },
    "layer_scores": {
        c: (
            _INT
            if c in ("n_train", "n_test", "n_features")
            else _FLT
            if c in ("score", "ci_low", "ci_high", "alpha", "seconds")
            else _STR
        )
        for c in SCORE_COLUMNS
    },
    "datasets": _typed(
        DATASET_COLUMNS, ints=("n_images", "n_splits"), floats=("ceiling", "score_mean", "score_std")
    ),
    "setups": _typed(SETUP_COLUMNS),
    "brain_targets": _typed(BRAIN_TARGET_COLUMNS, ints=("n_stimuli", "n_neuroids"), floats=("ceiling",)),
    "brain_setups": _typed(BRAIN_SETUP_COLUMNS, ints=("n_reference", "n_components")),
    "brain_scores": _typed(BRAIN_SCORE_COLUMNS, floats=("raw", "ceiling", "ceiled", "error", "seconds")),
}
_SHARD_NAME = re.compile(r"^(\d{6})-(%s)\.parquet$" % "|".join(SCHEMAS))


def _jsonable(value):
    return json.dumps(value) if isinstance(value, (dict, list, tuple)) else value


class ShardSink:
    """The ResultSink (memtool.store.sink) on a Ray worker: every write becomes one atomic
    Parquet shard.

    ``done`` maps (setup_id, target) -> model_id -> layers the store already holds (sent by
    the driver, for memorability and every brain setup); layers found in this task's own
    earlier shards (a retried attempt) count too.
    """

    def __init__(
        self,
        root: Path,
        run_id: str,
        task_id: str,
        done: dict[tuple[str, str], dict[str, set[str]]] | None = None,
    ):
        self.dir = Path(root) / run_id / task_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.done = {key: {m: set(v) for m, v in models.items()} for key, models in (done or {}).items()}
        existing = [int(m.group(1)) for p in self.dir.iterdir() if (m := _SHARD_NAME.match(p.name))]
        self.seq = max(existing, default=-1) + 1

    def _write(self, table: str, rows: Sequence[dict]) -> Path | None:
        if not rows:
            return None
        schema = SCHEMAS[table]
        frame = pl.DataFrame([{c: _jsonable(r.get(c)) for c in schema} for r in rows], schema=schema)
        final = self.dir / f"{self.seq:06d}-{table}.parquet"
        tmp = self.dir / f".{final.name}.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, final)
        self.seq += 1
        return final

    def upsert_model(self, row: dict) -> None:
        self._write("models", [row])

    def replace_layers(self, model_id: str, rows: Sequence[dict]) -> None:
        self._write("layers", rows)

    def scored_layers(self, model_id: str, setup_id: str, target: str) -> set[str]:
        own: set[str] = set()
        for path in sorted(self.dir.glob("*-layer_scores.parquet")):
            frame = pl.read_parquet(path).filter(
                (pl.col("model_id") == model_id)
                & (pl.col("setup_id") == setup_id)
                & (pl.col("target") == target)
                & (pl.col("fold") == "pooled")
            )
            own.update(frame["layer_name"].to_list())
        return self.done.get((setup_id, target), {}).get(model_id, set()) | own

    def insert_scores(self, rows: Sequence[dict]) -> None:
        self._write("layer_scores", rows)

    def register_brain_target(self, records: dict) -> None:
        self._write("datasets", [records["dataset"]])
        self._write("setups", [records["setup"]])
        self._write("brain_targets", [records["brain_target"]])
        if "brain_setup" in records:
            self._write("brain_setups", [records["brain_setup"]])

    def insert_brain_scores(self, rows: Sequence[tuple[dict, dict]]) -> None:
        # Details first: a crash between the two shards leaves the layer not done (no
        # layer_scores row), so the retry scores it again and its detail row is replaced.
        self._write("brain_scores", [d for _, d in rows])
        self._write("layer_scores", [p for p, _ in rows])


@dataclass
class IngestResult:
    shards: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # shards ingested before


def pending_shards(root: Path) -> list[Path]:
    """Complete shards under ``root`` in write order (run, task, sequence number)."""
    return sorted(p for p in Path(root).rglob("*.parquet") if _SHARD_NAME.match(p.name))


def ingest_shards(store: Store, root: Path) -> IngestResult:
    """Insert every shard under ``root`` that the store has not ingested yet (idempotent)."""
    root = Path(root)
    result = IngestResult()
    shards = pending_shards(root)
    if not shards:
        return result
    with store.writer() as con:
        seen = {r[0] for r in con.execute("SELECT shard FROM ingested_shards").fetchall()}
        for path in shards:
            rel = path.relative_to(root).as_posix()
            if rel in seen:
                result.skipped += 1
                continue
            table = _SHARD_NAME.match(path.name).group(2)
            parts = path.relative_to(root).parts
            run_id, task_id = (parts[-3], parts[-2]) if len(parts) >= 3 else (None, None)
            con.execute("BEGIN TRANSACTION")
            try:
                n = _insert_shard(con, table, str(path))
                con.execute(
                    "INSERT INTO ingested_shards (shard, table_name, run_id, task_id, n_rows)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [rel, table, run_id, task_id, n],
                )
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            result.shards += 1
            result.rows[table] = result.rows.get(table, 0) + n
    return result


def _insert_shard(con, table: str, path: str) -> int:
    n = con.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchall()[0][0]
    cols = ", ".join(SCHEMAS[table])
    if table == "layers":
        con.execute("DELETE FROM layers WHERE model_id IN (SELECT model_id FROM read_parquet(?))", [path])
        con.execute(f"INSERT INTO layers ({cols}) SELECT {cols} FROM read_parquet(?)", [path])
    else:  # every other table: the newest row for a key wins (an upsert, as in the store)
        con.execute(f"INSERT OR REPLACE INTO {table} ({cols}) SELECT {cols} FROM read_parquet(?)", [path])
    return n
