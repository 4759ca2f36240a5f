"""What the TUI reads from a results store, and nothing else (no Textual in this module).

Reads happen in short sessions: ``StoreReader.session()`` opens one read-only connection
through ``Store.reader()`` for a screen's batch of queries and closes it right after, and
each console query gets its own. So the TUI never holds the database file between two
loads: a sweep or fine-tune writing to the same file gets its lock in between, and the TUI
sees the new rows on its next load. Sessions are opened inside worker threads.

The fine-tuning tables (schema 002) and views are optional: a store written by an older
memtool lacks them, so their presence and columns are looked up in ``information_schema``
instead of being assumed.
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb

from memtool.errors import StoreError
from memtool.store import Store

STANDARD_TARGETS = ("V1", "V2", "V4", "IT", "behavior")
REQUIRED_RELATIONS = ("runs", "datasets", "models", "layers", "layer_scores",
                      "layer_scores_wide", "run_overview")
FINETUNE_RUNS = "finetune_runs"
FINETUNE_EPOCHS = "finetune_epochs"
clock = time.perf_counter  # what console timings use (snapshot tests stop it)
# Console queries leave one core to the UI thread, so a long query never freezes the keys.
CONSOLE_THREADS = max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class Table:
    """A query result as column names and row tuples."""

    columns: list[str]
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass(frozen=True)
class Setup:
    """A memorability setup the correlation screen can pick: data set and reducer."""

    dataset_id: str
    dataset: str
    reducer: str
    n_layers: int

    @property
    def label(self) -> str:
        return f"{self.dataset} · {self.reducer}"


@dataclass(frozen=True)
class BrainTarget:
    """A brain region with the target (benchmark or local data) its scores came from."""

    region: str
    target_id: str
    name: str | None
    ambiguous: bool = False  # the region has scores from more than one target

    @property
    def label(self) -> str:
        if not self.ambiguous:
            return self.region
        return f"{self.region} · {self.name or self.target_id[:10]}"


@dataclass(frozen=True)
class Points:
    """Layers that have both a memorability score and a score for one brain target."""

    target: str
    model: list[str]
    layer: list[str]
    depth: list[float]
    memorability: list[float]
    brain: list[float]

    def __len__(self) -> int:
        return len(self.layer)

    def models(self) -> list[str]:
        return sorted(set(self.model))

    def select(self, keep: Sequence[bool]) -> "Points":
        def pick(values):
            return [v for v, k in zip(values, keep) if k]

        return Points(self.target, pick(self.model), pick(self.layer), pick(self.depth),
                      pick(self.memorability), pick(self.brain))


@dataclass
class SqlResult:
    """What one console query returned: a polars frame (None for statements without rows)."""

    frame: Any
    seconds: float


class QueryCancelled(Exception):
    """The console query was interrupted by the user."""


@dataclass
class QueryHandle:
    """Lets the UI thread interrupt the query that a worker thread is running."""

    cancelled: bool = False
    _con: duckdb.DuckDBPyConnection | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, con: duckdb.DuckDBPyConnection | None) -> None:
        with self._lock:
            self._con = con

    def cancel(self) -> None:
        """Mark the query cancelled and interrupt it if it is running (idempotent)."""
        with self._lock:
            self.cancelled = True
            if self._con is not None:
                try:
                    self._con.interrupt()
                except duckdb.Error:
                    pass


def match_models(names: Sequence[str], pattern: str) -> list[str]:
    """Model names matching a glob (``timm:res*``) or, without wildcards, a substring."""
    pattern = pattern.strip().lower()
    if not pattern:
        return list(names)
    if not any(ch in pattern for ch in "*?["):
        return [n for n in names if pattern in n.lower()]
    return [n for n in names if fnmatch.fnmatchcase(n.lower(), pattern)]


class StoreReader:
    """Read-only access to a memtool store for the TUI.

    ``session()`` opens one read-only connection for a batch of reads (one screen load)
    and closes it at the end of the ``with`` block; ``run_sql`` does the same for one
    console query. Nothing stays open in between.
    """

    def __init__(self, path: str | Path, *, lock_timeout: float = 10.0):
        self.store = Store(path, lock_timeout=lock_timeout)
        self.path = self.store.path
        self.display_path = str(path)  # as the user typed it, for titles

    @contextmanager
    def session(self) -> Iterator["ReadSession"]:
        with self.store.reader() as con:
            yield ReadSession(con, self.display_path)

    def validate(self) -> None:
        """Raise StoreError unless ``path`` is a readable memtool store with its views."""
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a results database",
                             hint="pass the .duckdb file that `memtool sweep` wrote")
        with self.session() as s:
            missing = [name for name in REQUIRED_RELATIONS if name not in s.relations()]
        if missing:
            raise StoreError(
                f"{self.path} lacks {', '.join(missing)}: written by an older or unfinished memtool",
                hint="run any `memtool sweep --db FILE` with this memtool to upgrade it")

    # -- SQL console -------------------------------------------------------------------------
    def run_sql(self, sql: str, handle: QueryHandle | None = None) -> SqlResult:
        """Run console SQL on the sandboxed read-only connection; interruptible through ``handle``.

        Raises duckdb.Error for bad SQL (the console shows it), QueryCancelled when the
        handle was cancelled, StoreError when the file cannot be opened.
        """
        handle = handle or QueryHandle()
        start = clock()
        # The same sandbox as `memtool query`: read-only, no ATTACH / COPY / file reads.
        with self.store.sandboxed(threads=CONSOLE_THREADS) as con:
            handle.attach(con)
            try:
                if handle.cancelled:
                    raise QueryCancelled()
                relation = con.sql(sql)  # None for statements without a result set
                frame = relation.pl() if relation is not None else None
            except duckdb.InterruptException:
                raise QueryCancelled() from None
            except duckdb.Error:
                if handle.cancelled:
                    raise QueryCancelled() from None
                raise
            finally:
                handle.attach(None)
        if handle.cancelled:
            raise QueryCancelled()
        return SqlResult(frame, clock() - start)


class ReadSession:
    """The TUI's reads, all on one open read-only connection (see StoreReader.session)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, display_path: str):
        self.con = con
        self.display_path = display_path

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> Table:
        cur = self.con.execute(sql, params or [])
        return Table([d[0] for d in cur.description], cur.fetchall())

    def relations(self) -> set[str]:
        """Names of the tables and views in the store's main schema."""
        return set(self._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).column("table_name"))

    def columns_of(self, table: str) -> list[str]:
        return self._query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main'"
            " AND table_name = ? ORDER BY ordinal_position", [table]).column("column_name")

    def fingerprint(self) -> tuple:
        """Cheap summary that changes whenever a writer adds scores or finishes a run."""
        sql = ("SELECT (SELECT count(*) FROM layer_scores), (SELECT max(created_at) FROM layer_scores),"
               " (SELECT count(*) FROM runs), (SELECT list(status ORDER BY run_id) FROM runs)")
        row = self._query(sql).rows[0]
        extra: tuple = ()
        if FINETUNE_RUNS in self.relations():
            changed = "max(updated_at)" if "updated_at" in self.columns_of(FINETUNE_RUNS) else "NULL"
            extra += tuple(self._query(f"SELECT count(*), {changed} FROM {FINETUNE_RUNS}").rows[0])
        if FINETUNE_EPOCHS in self.relations():
            extra += (self._query(f"SELECT count(*) FROM {FINETUNE_EPOCHS}").rows[0][0],)
        return tuple(row) + extra

    # -- overview --------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        row = self._query(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM runs WHERE status = 'running'),"
            " (SELECT count(*) FROM models), (SELECT count(*) FROM layers WHERE alias_of IS NULL),"
            " (SELECT count(DISTINCT model_id || '/' || layer_name) FROM layer_scores"
            "   WHERE fold = 'pooled' AND target = 'memorability'),"
            " (SELECT count(*) FROM layer_scores), (SELECT count(*) FROM datasets),"
            " (SELECT max(version) FROM schema_migrations),"
            " (SELECT count(*) FROM layers WHERE alias_of IS NOT NULL)").rows[0]
        keys = ("runs", "running", "models", "layers", "scored_layers", "score_rows", "datasets",
                "schema_version", "aliases")
        out = dict(zip(keys, row))
        out["path"] = self.display_path
        return out

    def runs(self) -> Table:
        """Runs, newest first; a running run's duration is the time since it started."""
        table = self._query(
            "SELECT run_id, kind, status, n_models AS models, n_layers_scored AS layers,"
            " duration_s, started_at, command, error, finished_at FROM run_overview"
            " ORDER BY started_at DESC, run_id")
        now = datetime.now(timezone.utc).replace(tzinfo=None)  # the store keeps UTC
        rows = []
        for row in table.rows:
            *head, finished = row
            if head[2] == "running" and finished is None and head[6] is not None:
                head[5] = max(0.0, (now - head[6]).total_seconds())
            rows.append(tuple(head))
        return Table(table.columns[:-1], rows)

    def datasets(self) -> Table:
        return self._query(
            "SELECT name, kind, n_images AS images, n_splits AS splits, split_kind, ceiling,"
            " score_mean, citation, spec FROM datasets ORDER BY name, dataset_id")

    # -- layers ----------------------------------------------------------------------------
    def layers(self) -> Table:
        """Every scored layer (one row per memorability setup) with all brain targets."""
        return self._query(
            "SELECT model, layer, relative_depth AS depth, module_type AS type,"
            " memorability AS rho, memorability_ci_low AS ci_low, memorability_ci_high AS ci_high,"
            " V1, V2, V4, IT, behavior, dataset, reducer, output_shape AS shape, alias_of,"
            " layer_index, model_id, setup_id FROM layer_scores_wide"
            " ORDER BY model, dataset, reducer, layer_index")

    def brain_targets(self) -> list["BrainTarget"]:
        """Brain targets with pooled scores: regions in V1..behavior order, then the others.

        A region can have several targets (a Brain-Score benchmark and local recordings
        of IT, say); brain scores carry their target's id in ``dataset_id``.
        """
        table = self._query(
            "SELECT s.target, s.dataset_id, any_value(d.name) AS name, count(*) AS n"
            " FROM layer_scores AS s LEFT JOIN datasets AS d USING (dataset_id)"
            " WHERE s.fold = 'pooled' AND s.target <> 'memorability'"
            " GROUP BY s.target, s.dataset_id")
        order = {t: i for i, t in enumerate(STANDARD_TARGETS)}
        rows = sorted(table.rows, key=lambda r: (order.get(r[0], len(order)), r[0], r[2] or "", r[1]))
        per_region = {}
        for region, *_ in rows:
            per_region[region] = per_region.get(region, 0) + 1
        return [BrainTarget(region, target_id, name, per_region[region] > 1)
                for region, target_id, name, _ in rows]

    def setups(self) -> list[Setup]:
        table = self._query(
            "SELECT dataset_id, any_value(dataset) AS dataset, reducer,"
            " count(DISTINCT model_id || '/' || layer) AS n FROM layer_scores_pooled"
            " WHERE target = 'memorability' GROUP BY dataset_id, reducer"
            " ORDER BY n DESC, dataset, reducer")
        return [Setup(*row) for row in table.rows]

    def scored_models(self) -> list[str]:
        return self._query(
            "SELECT DISTINCT model FROM layer_scores_pooled WHERE target = 'memorability'"
            " ORDER BY model").column("model")

    # -- correlation -----------------------------------------------------------------------
    def points(self, target: "BrainTarget", setup: Setup | None = None) -> Points:
        """Per layer: memorability rho (latest per setup) against the latest score for
        ``target``, pairing scores of the same model, layer and reducer as the
        ``layer_scores_wide`` view does."""
        where, params = "", []
        if setup is not None:
            where, params = " AND dataset_id = ? AND reducer = ?", [setup.dataset_id, setup.reducer]
        table = self._query(
            "WITH mem AS (SELECT model_id, any_value(model) AS model, layer, reducer,"
            "   any_value(relative_depth) AS depth, arg_max(score, created_at) AS memorability"
            "   FROM layer_scores_pooled WHERE target = 'memorability'" + where +
            "   GROUP BY model_id, layer, dataset_id, reducer),"
            " brain AS (SELECT model_id, layer_name AS layer, reducer,"
            "   arg_max(score, created_at) AS brain FROM layer_scores"
            "   WHERE fold = 'pooled' AND target = ? AND dataset_id = ?"
            "   GROUP BY model_id, layer_name, reducer)"
            " SELECT mem.model, mem.layer, mem.depth, mem.memorability, brain.brain"
            " FROM mem JOIN brain USING (model_id, layer, reducer)"
            " WHERE mem.memorability IS NOT NULL AND brain.brain IS NOT NULL"
            " ORDER BY mem.model, mem.depth, mem.layer", params + [target.region, target.target_id])
        cols = list(zip(*table.rows)) if table.rows else [()] * 5
        return Points(target.label, *[list(c) for c in cols])

    # -- fine-tuning -----------------------------------------------------------------------
    def _select_present(self, relation: str, wanted: Sequence[str], tail: str = "") -> Table:
        """SELECT the wanted columns that ``relation`` has (the others come back as NULL)."""
        have = set(self.columns_of(relation))
        cols = ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)
        return self._query(f"SELECT {cols} FROM {relation} {tail}")

    def finetune(self) -> "FinetuneData | None":
        """Fine-tuning jobs, their epochs and the penultimate-layer relation; None while
        the store has no fine-tuning tables (schema 002) or no job in them."""
        rels = self.relations()
        if FINETUNE_RUNS not in rels or FINETUNE_EPOCHS not in rels:
            return None
        source = "finetune_results" if "finetune_results" in rels else FINETUNE_RUNS
        jobs = self._select_present(source, JOB_COLUMNS, "ORDER BY started_at DESC, finetune_id")
        if not jobs.rows:
            return None
        epochs = self._select_present(FINETUNE_EPOCHS, EPOCH_COLUMNS, "ORDER BY finetune_id, epoch")
        curves: dict[str, Curve] = {}
        for fid, epoch, train_loss, val_loss, val_rho in epochs.rows:
            curve = curves.setdefault(fid, Curve([], [], [], []))
            curve.epoch.append(epoch)
            curve.train_loss.append(train_loss)
            curve.val_loss.append(val_loss)
            curve.val_rho.append(val_rho)
        relation = Table([], [])
        if "finetune_penultimate_scores" in rels:
            relation = self._select_present(
                "finetune_penultimate_scores", RELATION_COLUMNS, "ORDER BY dataset, split, region, model")
        stats = Table([], [])
        if "finetune_brain_relation" in rels:
            stats = self._select_present("finetune_brain_relation", RELATION_STATS_COLUMNS)
        return FinetuneData(jobs, curves, relation, stats)


# -- fine-tuning results (sql/schema/002_finetune.sql and the finetune_* views) ----------------
JOB_COLUMNS = ("model", "dataset", "split", "status", "epochs_done", "epochs_planned",
               "best_epoch", "best_val_rho", "test_rho", "test_ci_low", "test_ci_high",
               "penultimate_layer", "IT", "pretrained_IT", "error", "finetune_id", "dataset_id")
EPOCH_COLUMNS = ("finetune_id", "epoch", "train_loss", "val_loss", "val_rho")
RELATION_COLUMNS = ("model", "dataset", "dataset_id", "split", "region", "brain_target_id",
                    "test_rho", "finetuned_similarity", "pretrained_similarity")
RELATION_STATS_COLUMNS = ("dataset_id", "split", "region", "brain_target_id",
                          "finetuned_n", "finetuned_rho", "finetuned_ci_low", "finetuned_ci_high",
                          "from_pretrained_n", "from_pretrained_rho", "from_pretrained_ci_low",
                          "from_pretrained_ci_high")


@dataclass
class Curve:
    """One fine-tuning job's learning curve, by epoch."""

    epoch: list[int]
    train_loss: list[float | None]
    val_loss: list[float | None]
    val_rho: list[float | None]


@dataclass
class FinetuneData:
    """Jobs (newest first), learning curves by finetune_id, and, across models, fine-tuned
    test rho against penultimate-layer brain similarity with its correlation."""

    jobs: Table
    curves: dict[str, Curve]
    relation: Table
    relation_stats: Table

    def job(self, finetune_id: str) -> dict | None:
        return next((r for r in self.jobs.records() if r["finetune_id"] == finetune_id), None)

    def regions(self, dataset_id: str, split: str) -> list[str]:
        found = {r["region"] for r in self.relation.records()
                 if r["dataset_id"] == dataset_id and r["split"] == split}
        order = {t: i for i, t in enumerate(STANDARD_TARGETS)}
        return sorted(found, key=lambda t: (order.get(t, len(order)), t))

    def relation_points(self, dataset_id: str, split: str, region: str) -> list[dict]:
        return [r for r in self.relation.records() if r["dataset_id"] == dataset_id
                and r["split"] == split and r["region"] == region]

    def relation_summary(self, dataset_id: str, split: str, region: str) -> list[dict]:
        return [r for r in self.relation_stats.records() if r["dataset_id"] == dataset_id
                and r["split"] == split and r["region"] == region]
