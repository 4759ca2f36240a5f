"""What a store holds: its summary, runs, data sets, memorability setups and models.

Also the one way memtool matches model names to the patterns a user types
(``match_models``) and resolves run ids from unique prefixes (``resolve_runs``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import polars as pl

from memtool.errors import UsageError
from memtool.store.read.session import ReadSession

FINETUNE_RUNS = "finetune_runs"
FINETUNE_EPOCHS = "finetune_epochs"


@dataclass(frozen=True)
class Setup:
    """A memorability setup a reader can pick: data set and reducer."""

    dataset_id: str
    dataset: str
    reducer: str
    n_layers: int

    @property
    def label(self) -> str:
        return f"{self.dataset} · {self.reducer}"


def summary(s: ReadSession) -> dict:
    """Counts of runs, models, layers, scores and data sets, and the schema version."""
    row = s.row(
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM runs WHERE status = 'running'),"
        " (SELECT count(*) FROM models), (SELECT count(*) FROM layers WHERE alias_of IS NULL),"
        " (SELECT count(DISTINCT model_id || '/' || layer_name) FROM layer_scores"
        "   WHERE fold = 'pooled' AND target = 'memorability'),"
        " (SELECT count(*) FROM layer_scores), (SELECT count(*) FROM datasets),"
        " (SELECT max(version) FROM schema_migrations),"
        " (SELECT count(*) FROM layers WHERE alias_of IS NOT NULL)"
    )
    keys = (
        "runs",
        "running",
        "models",
        "layers",
        "scored_layers",
        "score_rows",
        "datasets",
        "schema_version",
        "aliases",
    )
    return dict(zip(keys, row))


def fingerprint(s: ReadSession) -> tuple:
    """Cheap summary that changes whenever a writer adds scores or finishes a run."""
    out = s.row(
        "SELECT (SELECT count(*) FROM layer_scores), (SELECT max(created_at) FROM layer_scores),"
        " (SELECT count(*) FROM runs), (SELECT list(status ORDER BY run_id) FROM runs)"
    )
    if s.has(FINETUNE_RUNS):
        changed = "max(updated_at)" if "updated_at" in s.columns_of(FINETUNE_RUNS) else "NULL"
        out += s.row(f"SELECT count(*), {changed} FROM {FINETUNE_RUNS}")
    if s.has(FINETUNE_EPOCHS):
        out += s.row(f"SELECT count(*) FROM {FINETUNE_EPOCHS}")
    return tuple(out)


def runs(s: ReadSession) -> pl.DataFrame:
    """``run_overview``: one row per run, oldest first."""
    return s.frame("SELECT * FROM run_overview ORDER BY started_at, run_id")


def live_durations(frame: pl.DataFrame, now: datetime | None = None) -> pl.DataFrame:
    """``duration_s`` of a run still running (no ``finished_at``): the time since it started."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)  # the store keeps UTC
    since = (pl.lit(now) - pl.col("started_at")).dt.total_microseconds() / 1e6
    running = (
        (pl.col("status") == "running") & pl.col("finished_at").is_null() & pl.col("started_at").is_not_null()
    )
    return frame.with_columns(
        pl.when(running)
        .then(pl.max_horizontal(since, 0.0))
        .otherwise(pl.col("duration_s"))
        .alias("duration_s")
    )


def datasets(s: ReadSession) -> pl.DataFrame:
    """Every data set (memorability sets and brain targets' stimuli), by name."""
    return s.frame("SELECT * FROM datasets ORDER BY name, dataset_id")


def setups(s: ReadSession) -> list[Setup]:
    """Memorability setups (data set, reducer), the one with the most layers first."""
    frame = s.frame(
        "SELECT dataset_id, any_value(dataset) AS dataset, reducer,"
        " count(DISTINCT model_id || '/' || layer) AS n FROM layer_scores_pooled"
        " WHERE target = 'memorability' GROUP BY dataset_id, reducer"
        " ORDER BY n DESC, dataset, reducer"
    )
    return [Setup(*row) for row in frame.rows()]


def scored_models(s: ReadSession) -> list[str]:
    """Names of the models with memorability scores."""
    return s.frame(
        "SELECT DISTINCT model FROM layer_scores_pooled WHERE target = 'memorability' ORDER BY model"
    )["model"].to_list()


def model_names(s: ReadSession) -> list[str]:
    """Every model name the store knows: scored models and fine-tuned ones."""
    names = s.frame("SELECT name FROM models ORDER BY name")["name"].to_list()
    if s.has(FINETUNE_RUNS):
        names += s.frame(f"SELECT DISTINCT model FROM {FINETUNE_RUNS} ORDER BY model")["model"].to_list()
    return names


def match_models(
    names: Sequence[str], patterns: str | Sequence[str] | None, *, substring: bool = False
) -> list[str]:
    """The distinct names (sorted) that match any pattern, case-insensitively.

    A pattern is a glob on the full name (``timm:res*``) or on the name without its source
    prefix (``resnet*`` and ``alexnet`` match ``timm:resnet18`` and ``torchvision:alexnet``).
    With ``substring`` (a filter typed live), a pattern without wildcards matches any name
    that contains it. No pattern, or only empty ones, keeps every name.
    """
    names = sorted(set(names))
    wanted = [patterns] if isinstance(patterns, str) else list(patterns or [])
    wanted = [p.strip().lower() for p in wanted if p.strip()]
    if not wanted:
        return names

    def hit(name: str, p: str) -> bool:
        full = name.lower()
        if substring and not any(ch in p for ch in "*?["):
            return p in full
        return fnmatch.fnmatchcase(full, p) or fnmatch.fnmatchcase(full.split(":", 1)[-1], p)

    return [n for n in names if any(hit(n, p) for p in wanted)]


def resolve_runs(s: ReadSession, wanted: Sequence[str] | None) -> list[str] | None:
    """Expand run ids or unique prefixes to full ids (sorted); None means every run."""
    if not wanted:
        return None
    known = s.frame("SELECT run_id FROM runs ORDER BY run_id")["run_id"].to_list()
    out = []
    for run in wanted:
        hits = [r for r in known if r == run] or [r for r in known if r.startswith(run)]
        if len(hits) != 1:
            what = "matches several runs" if hits else "is not in the database"
            raise UsageError(
                f"run '{run}' {what}", hint='list runs with: memtool query "SELECT * FROM run_overview"'
            )
        if hits[0] not in out:
            out.append(hits[0])
    return sorted(out)
