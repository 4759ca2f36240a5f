"""What a report shows, read from the store: layer scores, best layers, runs, data sets.

Everything here comes from the SQL views (``layer_scores_wide``, ``best_layer_per_model``,
``layer_scores_pooled``, ``run_overview``) and plain tables, filtered by the user's
selection of runs, models and brain targets. No plotting: ``figures`` and ``html`` only
format what this module returns, so the numbers on the page are the database's numbers.

A *study* is one memorability setup (data set + reducer + readout + seed): layers scored
under different setups are never mixed in one figure or one correlation. Models are told
apart by ``model_id`` (name + weights): a fine-tuned checkpoint keeps its base model's name,
so its layers are kept out of the pretrained studies and shown with the fine-tuning results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import polars as pl

from memtool.errors import UsageError
from memtool.scoring.stats import Correlation, correlate_across_layers
from memtool.scoring.stats import spearman_finite as spearman
from memtool.store import Store, read
from memtool.store.read import STANDARD_TARGETS as BRAIN_TARGETS
from memtool.store.read import ReadSession, match_models

__all__ = [
    "BRAIN_TARGETS",
    "FinetuneResults",
    "ReportData",
    "Study",
    "TargetCorrelation",
    "canonical_targets",
    "column",
    "load_report_data",
    "match_models",
    "slug",
    "study_correlations",
]

N_BOOT = 1000
"""Bootstrap resamples for the across-layer correlation CIs (seeded: reports are stable)."""


@dataclass
class Study:
    """Scores of the selected models under one memorability setup."""

    setup_id: str
    dataset_id: str
    dataset: str
    reducer: str
    label: str  # what a reader sees: "lnsim · pool"
    slug: str  # file-name suffix, "" when the report has one study
    ceiling: float | None  # the data set's human split-half consistency
    layers: pl.DataFrame  # layer_scores_wide rows (alias_of IS NULL)
    best: pl.DataFrame  # best_layer_per_model rows
    targets: list[str]  # brain targets with at least one score here
    names: dict[str, str] = field(default_factory=dict)  # model_id -> display name
    target_names: dict[str, list[str]] = field(default_factory=dict)  # region -> brain targets

    @property
    def model_ids(self) -> list[str]:
        """The study's models, ordered by display name."""
        ids = set(self.layers["model_id"].to_list())
        return sorted(ids, key=lambda m: (self.names.get(m, m), m))

    def name(self, model_id: str) -> str:
        return self.names.get(model_id, model_id)


@dataclass
class TargetCorrelation:
    """Across-layer correlation of memorability rho with one brain target."""

    target: str
    model: str | None  # display name; None: pooled over all models of the study
    result: Correlation


@dataclass
class FinetuneResults:
    """Completed fine-tuning runs and the brain similarity of their penultimate layers.

    ``runs``: completed rows of the ``finetune_results`` view (one per run) with the run id
    and the data set's ceiling. ``penultimate``: rows of ``finetune_penultimate_scores``
    (latest completed run per model, data set and split; one row per brain target) of the
    selected runs. ``relations``: across those models, per data set, split and brain
    target, Spearman's rho of fine-tuned test rho against the penultimate layer's
    similarity after fine-tuning (``finetuned``) and in the pretrained model
    (``from_pretrained``), with n; computed with memtool.scoring.stats on the selected rows, so
    on an unfiltered report they equal ``finetune_brain_relation``.
    """

    runs: pl.DataFrame
    penultimate: pl.DataFrame
    relations: pl.DataFrame


@dataclass
class ReportData:
    db_name: str
    studies: list[Study]
    runs: pl.DataFrame  # run_overview rows of the selected runs
    datasets: pl.DataFrame  # data sets used by the studies (all when there are none)
    targets: list[str]  # brain targets asked for (all by default)
    finetune: FinetuneResults | None = None
    missing: list[str] = field(default_factory=list)


# -- selection --------------------------------------------------------------------------
def canonical_targets(targets: Sequence[str] | None) -> list[str]:
    """Validate --target values against the brain targets the views carry."""
    if not targets:
        return list(BRAIN_TARGETS)
    by_lower = {t.lower(): t for t in BRAIN_TARGETS}
    out = []
    for t in targets:
        canon = by_lower.get(t.strip().lower())
        if canon is None:
            raise UsageError(f"unknown brain target '{t}'", hint=f"use one of {', '.join(BRAIN_TARGETS)}")
        if canon not in out:
            out.append(canon)
    return [t for t in BRAIN_TARGETS if t in out]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "study"


# -- loading ----------------------------------------------------------------------------
def load_report_data(
    store: Store,
    *,
    runs: Sequence[str] | None = None,
    models: str | Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> ReportData:
    """Read everything the report shows, restricted to the selection.

    ``runs``: run ids (or unique prefixes); a run selects the (model, setup) pairs it wrote
    memorability scores for, every setup of the models it wrote brain scores for, and the
    fine-tuning runs it trained. ``models``: glob pattern(s) on model names. ``targets``:
    brain targets to show. Raises UsageError when a run, model pattern or target names
    nothing in the database. All reads share one read-only connection.
    """
    with read.reading(store) as s:
        return _load(s, store.path.name, runs, models, targets)


def _load(s: ReadSession, db_name: str, runs, models, targets) -> ReportData:
    patterns = [models] if isinstance(models, str) else list(models or [])
    wanted_targets = canonical_targets(targets)
    run_ids = read.resolve_runs(s, runs)
    all_names = read.model_names(s)
    chosen = match_models(all_names, patterns)
    if patterns and not chosen:
        listing = sorted(set(all_names))
        shown = ", ".join(listing[:8]) + (" ..." if len(listing) > 8 else "")
        raise UsageError(
            f"no model in the database matches {' or '.join(patterns)}",
            hint=f"models stored: {shown}" if listing else "run memtool sweep first",
        )

    keep = pl.col("model").is_in(chosen) & ~pl.col("model_id").is_in(read.finetuned_model_ids(s))
    wide, best = read.wide(s, aliases=False).filter(keep), read.best_layers(s).filter(keep)
    if run_ids is not None:
        pairs = read.run_setups(s, run_ids)
        wide = wide.join(pairs, on=["model_id", "setup_id"], how="semi", maintain_order="left")
        best = best.join(pairs, on=["model_id", "setup_id"], how="semi", maintain_order="left")

    all_datasets = read.datasets(s)
    studies = _studies(s, wide, best, wanted_targets, all_datasets)
    runs_frame = read.runs(s).select(
        "run_id",
        "kind",
        "status",
        "started_at",
        "duration_s",
        "n_models",
        "n_layers_scored",
        "memtool_version",
        "command",
        "error",
    )
    if run_ids is not None:
        runs_frame = runs_frame.filter(pl.col("run_id").is_in(run_ids))

    finetune = load_finetune(s, chosen, run_ids, wanted_targets)
    used = {st.dataset_id for st in studies}
    if finetune is not None:
        used |= set(finetune.runs["dataset_id"].to_list())
    datasets = all_datasets.select(
        "name", "kind", "n_images", "n_splits", "split_kind", "ceiling", "citation", "dataset_id"
    )
    if used:
        datasets = datasets.filter(pl.col("dataset_id").is_in(sorted(used)))

    data = ReportData(
        db_name=db_name,
        studies=studies,
        runs=runs_frame,
        datasets=datasets,
        targets=wanted_targets,
        finetune=finetune,
    )
    data.missing = _missing(s, data, explicit_targets=bool(targets))
    return data


def _display_names(frame: pl.DataFrame) -> dict[str, str]:
    """model_id -> name, or the full model_id where two weights share a name."""
    pairs = frame.select("model_id", "model").unique().sort("model_id").rows()
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return {mid: (name if counts[name] == 1 else mid) for mid, name in pairs}


def _studies(
    s: ReadSession, wide: pl.DataFrame, best: pl.DataFrame, targets: list[str], datasets: pl.DataFrame
) -> list[Study]:
    if wide.is_empty():
        return []
    brain_names = read.shown_target_names(s)
    ceilings = dict(datasets.select("dataset_id", "ceiling").rows())
    keys = (
        wide.select("setup_id", "dataset_id", "dataset", "reducer")
        .unique()
        .sort(["dataset", "reducer", "setup_id"])
    )
    labels = [f"{r['dataset']} · {r['reducer']}" for r in keys.iter_rows(named=True)]
    studies = []
    for row, label in zip(keys.iter_rows(named=True), labels):
        if labels.count(label) > 1:
            label = f"{label} · setup {row['setup_id']}"
        layers = wide.filter(pl.col("setup_id") == row["setup_id"])
        present = [t for t in targets if layers[t].drop_nulls().len() > 0]
        ids = layers["model_id"].unique().to_list()
        here = brain_names.filter((pl.col("reducer") == row["reducer"]) & pl.col("model_id").is_in(ids))
        target_names = {t: sorted(set(here.filter(pl.col("region") == t)["name"].to_list())) for t in present}
        studies.append(
            Study(
                setup_id=row["setup_id"],
                dataset_id=row["dataset_id"],
                dataset=row["dataset"],
                reducer=row["reducer"],
                label=label,
                slug=slug(label) if len(keys) > 1 else "",
                ceiling=ceilings.get(row["dataset_id"]),
                layers=layers,
                best=best.filter(pl.col("setup_id") == row["setup_id"]),
                targets=present,
                names=_display_names(layers),
                target_names=target_names,
            )
        )
    return studies


def _missing(s: ReadSession, data: ReportData, *, explicit_targets: bool) -> list[str]:
    """Plain sentences on what the report cannot show and the command that fills it."""
    out = []
    if not data.studies:
        out.append(
            "no memorability scores in the selection: run `memtool sweep --db "
            f"{data.db_name}` (or widen --run/--model)"
        )
    else:
        shown = {t for st in data.studies for t in st.targets}
        if not shown:
            out.append(
                "no brain scores for the selected layers: run `memtool sweep --brain IT "
                "...` to score layers against a brain target"
            )
        elif explicit_targets:
            for t in data.targets:
                if t not in shown:
                    out.append(f"no {t} scores for the selected layers: run `memtool sweep --brain {t} ...`")
        for st in data.studies:
            if st.ceiling is None:
                out.append(
                    f"data set {st.dataset} has no human ceiling on record: the best-layer "
                    "figure shows no ceiling line"
                )
    custom = [r for r in read.stored_regions(s) if r not in BRAIN_TARGETS]
    if custom:
        out.append(
            f"brain targets {', '.join(custom)} are stored but not columns of "
            "layer_scores_wide, so not plotted: query layer_scores_pooled for them"
        )
    ft = data.finetune
    if ft is None:
        n = read.count_jobs(s)
        out.append(
            "no fine-tuning results"
            + (
                f" in the selection ({n} fine-tuning run(s) in the database, none completed and selected)"
                if n
                else ""
            )
            + ": run `memtool finetune --model NAME --data SPEC` to fine-tune models "
            "for memorability"
        )
    elif ft.penultimate["finetuned_similarity"].drop_nulls().is_empty():
        out.append(
            "no brain scores for the fine-tuned models' penultimate layers: score them "
            "with `memtool sweep --checkpoint CKPT --layers penultimate --brain IT ...`"
        )
    return out


# -- analysis ---------------------------------------------------------------------------
def column(frame: pl.DataFrame, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for NULL."""
    return frame[name].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def study_correlations(study: Study) -> list[TargetCorrelation]:
    """Memorability vs each brain target across layers: all models pooled, then per model.

    Uses memtool.scoring.stats.correlate_across_layers (Spearman, partial Spearman on relative
    depth, seeded bootstrap CIs over layers), so the numbers match ``memtool analyze``.
    """
    out = []
    ids = study.model_ids
    groups = [(None, study.layers)]
    if len(ids) > 1:  # with one model, the pooled row is that model's row
        groups += [(study.name(m), study.layers.filter(pl.col("model_id") == m)) for m in ids]
    for target in study.targets:
        for model, frame in groups:
            result = correlate_across_layers(
                column(frame, "memorability"),
                column(frame, target),
                column(frame, "relative_depth"),
                n_boot=N_BOOT,
                seed=0,
            )
            out.append(TargetCorrelation(target, model, result))
    return out


# -- fine-tuning (optional tables) -------------------------------------------------------
def load_finetune(
    s: ReadSession, models: list[str], run_ids: list[str] | None, targets: list[str]
) -> FinetuneResults | None:
    """Completed fine-tuning runs of the selected models, or None when there are none
    (or the store has no fine-tuning tables)."""
    runs = read.completed_runs(s)
    if runs is None:
        return None
    runs = runs.filter(pl.col("model").is_in(models))
    if run_ids is not None:
        runs = runs.filter(pl.col("run_id").is_in(run_ids))
    if runs.is_empty():
        return None
    penultimate = read.penultimate_scores(s, runs["finetune_id"].to_list(), targets)
    return FinetuneResults(
        runs=runs, penultimate=penultimate, relations=finetune_relations(penultimate, targets)
    )


def finetune_relations(penultimate: pl.DataFrame, targets: list[str]) -> pl.DataFrame:
    """Across models: Spearman of fine-tuned test rho vs penultimate similarity, with n."""
    rows = []
    keys = ["dataset", "split", "region", "brain_target", "brain_target_id", "dataset_id"]
    order = {t: i for i, t in enumerate(targets)}
    groups = penultimate.select(keys).unique().rows(named=True)
    groups.sort(
        key=lambda g: (
            g["dataset"],
            g["split"],
            order.get(g["region"], 99),
            g["brain_target"],
            g["brain_target_id"],
        )
    )
    for g in groups:
        frame = penultimate.filter(pl.all_horizontal(pl.col(k) == g[k] for k in keys))
        row = dict(g)
        y = column(frame, "test_rho")
        for kind, col in (
            ("finetuned", "finetuned_similarity"),
            ("from_pretrained", "pretrained_similarity"),
        ):
            x = column(frame, col)
            n = int(np.sum(np.isfinite(x) & np.isfinite(y)))
            row[f"{kind}_n"] = n
            row[f"{kind}_rho"] = spearman(x, y) if n >= 3 else None
        rows.append(row)
    schema = {k: pl.String for k in keys} | {
        "finetuned_n": pl.Int64,
        "finetuned_rho": pl.Float64,
        "from_pretrained_n": pl.Int64,
        "from_pretrained_rho": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)
