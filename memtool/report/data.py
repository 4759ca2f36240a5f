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

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import polars as pl

from memtool.scoring.stats import Correlation, correlate_across_layers
from memtool.scoring.stats import spearman_finite as spearman
from memtool.errors import UsageError
from memtool.store import Store

BRAIN_TARGETS = ("V1", "V2", "V4", "IT", "behavior")
"""Brain targets that ``layer_scores_wide`` carries as columns, in display order."""

N_BOOT = 1000
"""Bootstrap resamples for the across-layer correlation CIs (seeded: reports are stable)."""


@dataclass
class Study:
    """Scores of the selected models under one memorability setup."""

    setup_id: str
    dataset_id: str
    dataset: str
    reducer: str
    label: str                      # what a reader sees: "lnsim · pool"
    slug: str                       # file-name suffix, "" when the report has one study
    ceiling: float | None           # the data set's human split-half consistency
    layers: pl.DataFrame            # layer_scores_wide rows (alias_of IS NULL)
    best: pl.DataFrame              # best_layer_per_model rows
    targets: list[str]              # brain targets with at least one score here
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
    model: str | None               # display name; None: pooled over all models of the study
    result: Correlation


@dataclass
class FinetuneData:
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
    runs: pl.DataFrame              # run_overview rows of the selected runs
    datasets: pl.DataFrame          # data sets used by the studies (all when there are none)
    targets: list[str]              # brain targets asked for (all by default)
    finetune: FinetuneData | None = None
    missing: list[str] = field(default_factory=list)


# -- selection --------------------------------------------------------------------------
def match_models(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    """Model names matching any glob pattern (case-insensitive).

    A pattern matches the full name (``timm:resnet*``) or the name without its source
    prefix (``resnet*`` matches ``timm:resnet18``).
    """
    names = sorted(set(names))
    if not patterns:
        return names
    chosen = []
    for name in names:
        short = name.split(":", 1)[-1]
        for pattern in patterns:
            p = pattern.lower()
            if fnmatch.fnmatchcase(name.lower(), p) or fnmatch.fnmatchcase(short.lower(), p):
                chosen.append(name)
                break
    return chosen


def canonical_targets(targets: Sequence[str] | None) -> list[str]:
    """Validate --target values against the brain targets the views carry."""
    if not targets:
        return list(BRAIN_TARGETS)
    by_lower = {t.lower(): t for t in BRAIN_TARGETS}
    out = []
    for t in targets:
        canon = by_lower.get(t.strip().lower())
        if canon is None:
            raise UsageError(f"unknown brain target '{t}'",
                             hint=f"use one of {', '.join(BRAIN_TARGETS)}")
        if canon not in out:
            out.append(canon)
    return [t for t in BRAIN_TARGETS if t in out]


def resolve_runs(store: Store, runs: Sequence[str] | None) -> list[str] | None:
    """Expand run ids or unique prefixes to full ids; None means every run."""
    if not runs:
        return None
    _, rows = store.query("SELECT run_id FROM runs ORDER BY run_id")
    known = [r[0] for r in rows]
    out = []
    for wanted in runs:
        hits = [r for r in known if r == wanted] or [r for r in known if r.startswith(wanted)]
        if len(hits) != 1:
            what = "matches several runs" if hits else "is not in the database"
            raise UsageError(f"run '{wanted}' {what}",
                             hint="list runs with: memtool query \"SELECT * FROM run_overview\"")
        if hits[0] not in out:
            out.append(hits[0])
    return sorted(out)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "study"


def _tables(store: Store) -> set[str]:
    """Tables and views of the store (older stores lack the fine-tuning and brain ones)."""
    _, rows = store.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
    return {r[0] for r in rows}


# -- loading ----------------------------------------------------------------------------
def load_report_data(store: Store, *, runs: Sequence[str] | None = None,
                     models: str | Sequence[str] | None = None,
                     targets: Sequence[str] | None = None) -> ReportData:
    """Read everything the report shows, restricted to the selection.

    ``runs``: run ids (or unique prefixes); a run selects the (model, setup) pairs it wrote
    memorability scores for, every setup of the models it wrote brain scores for, and the
    fine-tuning runs it trained. ``models``: glob pattern(s) on model names. ``targets``:
    brain targets to show. Raises UsageError when a run, model pattern or target names
    nothing in the database.
    """
    patterns = [models] if isinstance(models, str) else list(models or [])
    wanted_targets = canonical_targets(targets)
    run_ids = resolve_runs(store, runs)
    tables = _tables(store)
    has_finetune = "finetune_runs" in tables

    _, rows = store.query("SELECT name FROM models ORDER BY name")
    all_names = [r[0] for r in rows]
    if has_finetune:
        _, rows = store.query("SELECT DISTINCT model FROM finetune_runs ORDER BY model")
        all_names += [r[0] for r in rows]
    chosen = match_models(all_names, patterns)
    if patterns and not chosen:
        listing = sorted(set(all_names))
        shown = ", ".join(listing[:8]) + (" ..." if len(listing) > 8 else "")
        raise UsageError(f"no model in the database matches {' or '.join(patterns)}",
                         hint=f"models stored: {shown}" if listing else "run memtool sweep first")

    finetuned_ids: list[str] = []
    if has_finetune:
        _, rows = store.query("SELECT DISTINCT finetuned_model_id FROM finetune_runs "
                              "WHERE finetuned_model_id IS NOT NULL ORDER BY 1")
        finetuned_ids = [r[0] for r in rows]

    wide = store.query_polars(
        "SELECT * FROM layer_scores_wide WHERE alias_of IS NULL "
        "ORDER BY dataset, reducer, setup_id, model, model_id, layer_index, layer")
    best = store.query_polars(
        "SELECT * FROM best_layer_per_model ORDER BY dataset, reducer, setup_id, model, model_id")
    keep = pl.col("model").is_in(chosen) & ~pl.col("model_id").is_in(finetuned_ids)
    wide, best = wide.filter(keep), best.filter(keep)
    if run_ids is not None:
        pairs = _run_pairs(store, run_ids)
        wide = wide.join(pairs, on=["model_id", "setup_id"], how="semi", maintain_order="left")
        best = best.join(pairs, on=["model_id", "setup_id"], how="semi", maintain_order="left")

    studies = _studies(store, wide, best, wanted_targets, tables)
    runs_frame = store.query_polars(
        "SELECT run_id, kind, status, started_at, duration_s, n_models, n_layers_scored, "
        "memtool_version, command, error FROM run_overview ORDER BY started_at, run_id")
    if run_ids is not None:
        runs_frame = runs_frame.filter(pl.col("run_id").is_in(run_ids))

    finetune = None
    if has_finetune and all(v in tables for v in FINETUNE_VIEWS):
        finetune = load_finetune(store, chosen, run_ids, wanted_targets, tables)
    used = {s.dataset_id for s in studies}
    if finetune is not None:
        used |= set(finetune.runs["dataset_id"].to_list())
    datasets = store.query_polars(
        "SELECT name, kind, n_images, n_splits, split_kind, ceiling, citation, dataset_id "
        "FROM datasets ORDER BY name, dataset_id")
    if used:
        datasets = datasets.filter(pl.col("dataset_id").is_in(sorted(used)))

    data = ReportData(db_name=store.path.name, studies=studies, runs=runs_frame,
                      datasets=datasets, targets=wanted_targets, finetune=finetune)
    data.missing = _missing(store, data, explicit_targets=bool(targets),
                            has_finetune_table=has_finetune)
    return data


def _run_pairs(store: Store, run_ids: list[str]) -> pl.DataFrame:
    mem = store.query_polars(
        "SELECT DISTINCT model_id, setup_id FROM layer_scores "
        "WHERE list_contains(?, run_id) AND target = 'memorability'", [run_ids])
    via_brain = store.query_polars(
        "SELECT DISTINCT m.model_id, m.setup_id FROM layer_scores AS m "
        "WHERE m.target = 'memorability' AND m.model_id IN ("
        "  SELECT model_id FROM layer_scores "
        "  WHERE list_contains(?, run_id) AND target <> 'memorability')", [run_ids])
    return pl.concat([mem, via_brain]).unique().sort(["model_id", "setup_id"])


def _display_names(frame: pl.DataFrame) -> dict[str, str]:
    """model_id -> name, or the full model_id where two weights share a name."""
    pairs = frame.select("model_id", "model").unique().sort("model_id").rows()
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return {mid: (name if counts[name] == 1 else mid) for mid, name in pairs}


def _brain_target_names(store: Store, tables: set[str]) -> pl.DataFrame:
    """Which stored brain target each region's column shows, per model and reducer.

    ``layer_scores_wide`` shows one target per region, model and reducer (the one
    ``latest_brain_scores`` marks with ``region_choice = 1``); stores made before that
    view list every target of the region.
    """
    name = ("coalesce(t.name, d.name, s.dataset_id)" if "brain_targets" in tables
            else "coalesce(d.name, s.dataset_id)")
    join = ("LEFT JOIN brain_targets AS t ON t.target_id = s.dataset_id "
            if "brain_targets" in tables else "")
    if "latest_brain_scores" in tables:
        source = ("(SELECT model_id, reducer, region AS target, brain_target_id AS dataset_id "
                  "FROM latest_brain_scores WHERE region_choice = 1) AS s ")
        where = ""
    else:
        source = "layer_scores AS s "
        where = "WHERE s.fold = 'pooled' AND s.target <> 'memorability' "
    return store.query_polars(
        f"SELECT DISTINCT s.model_id, s.reducer, s.target AS region, {name} AS name "
        f"FROM {source}{join}LEFT JOIN datasets AS d ON d.dataset_id = s.dataset_id "
        f"{where}ORDER BY region, name")


def _studies(store: Store, wide: pl.DataFrame, best: pl.DataFrame,
             targets: list[str], tables: set[str]) -> list[Study]:
    if wide.is_empty():
        return []
    brain_names = _brain_target_names(store, tables)
    _, rows = store.query("SELECT dataset_id, ceiling FROM datasets")
    ceilings = dict(rows)
    keys = (wide.select("setup_id", "dataset_id", "dataset", "reducer").unique()
            .sort(["dataset", "reducer", "setup_id"]))
    labels = [f"{r['dataset']} · {r['reducer']}" for r in keys.iter_rows(named=True)]
    studies = []
    for row, label in zip(keys.iter_rows(named=True), labels):
        if labels.count(label) > 1:
            label = f"{label} · setup {row['setup_id']}"
        layers = wide.filter(pl.col("setup_id") == row["setup_id"])
        present = [t for t in targets if layers[t].drop_nulls().len() > 0]
        ids = layers["model_id"].unique().to_list()
        here = brain_names.filter((pl.col("reducer") == row["reducer"])
                                  & pl.col("model_id").is_in(ids))
        target_names = {t: sorted(set(here.filter(pl.col("region") == t)["name"].to_list()))
                        for t in present}
        studies.append(Study(
            setup_id=row["setup_id"], dataset_id=row["dataset_id"], dataset=row["dataset"],
            reducer=row["reducer"], label=label, slug=slug(label) if len(keys) > 1 else "",
            ceiling=ceilings.get(row["dataset_id"]), layers=layers,
            best=best.filter(pl.col("setup_id") == row["setup_id"]), targets=present,
            names=_display_names(layers), target_names=target_names))
    return studies


def _missing(store: Store, data: ReportData, *, explicit_targets: bool,
             has_finetune_table: bool) -> list[str]:
    """Plain sentences on what the report cannot show and the command that fills it."""
    out = []
    if not data.studies:
        out.append("no memorability scores in the selection: run `memtool sweep --db "
                   f"{data.db_name}` (or widen --run/--model)")
    else:
        shown = {t for s in data.studies for t in s.targets}
        if not shown:
            out.append("no brain scores for the selected layers: run `memtool sweep --brain IT "
                       "...` to score layers against a brain target")
        elif explicit_targets:
            for t in data.targets:
                if t not in shown:
                    out.append(f"no {t} scores for the selected layers: run `memtool sweep "
                               f"--brain {t} ...`")
        for s in data.studies:
            if s.ceiling is None:
                out.append(f"data set {s.dataset} has no human ceiling on record: the best-layer "
                           "figure shows no ceiling line")
    _, rows = store.query(
        "SELECT DISTINCT target FROM layer_scores WHERE target <> 'memorability' ORDER BY target")
    custom = [r[0] for r in rows if r[0] not in BRAIN_TARGETS]
    if custom:
        out.append(f"brain targets {', '.join(custom)} are stored but not columns of "
                   "layer_scores_wide, so not plotted: query layer_scores_pooled for them")
    ft = data.finetune
    if ft is None:
        if has_finetune_table:
            _, rows = store.query("SELECT count(*) FROM finetune_runs")
            n = rows[0][0]
        else:
            n = 0
        out.append("no fine-tuning results" + (f" in the selection ({n} fine-tuning run(s) in "
                                               "the database, none completed and selected)"
                                               if n else "")
                   + ": run `memtool finetune --model NAME --data SPEC` to fine-tune models "
                   "for memorability")
    elif ft.penultimate["finetuned_similarity"].drop_nulls().is_empty():
        out.append("no brain scores for the fine-tuned models' penultimate layers: score them "
                   "with `memtool sweep --checkpoint CKPT --layers penultimate --brain IT ...`")
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
                column(frame, "memorability"), column(frame, target),
                column(frame, "relative_depth"), n_boot=N_BOOT, seed=0)
            out.append(TargetCorrelation(target, model, result))
    return out


# -- fine-tuning (optional tables) -------------------------------------------------------
FINETUNE_VIEWS = ("finetune_results", "finetune_penultimate_scores")


def load_finetune(store: Store, models: list[str], run_ids: list[str] | None,
                  targets: list[str], tables: set[str]) -> FinetuneData | None:
    """Completed fine-tuning runs of the selected models, or None when there are none.

    Call only when ``finetune_runs`` exists (stores written before fine-tuning lack it).
    """
    runs = store.query_polars(
        "SELECT r.model, r.random_init, r.dataset, r.split, r.n_test, r.epochs_done, "
        "r.best_epoch, r.best_val_rho, r.test_rho, r.test_ci_low, r.test_ci_high, "
        "r.resmem_test_rho, r.penultimate_layer, r.finetune_id, f.run_id, d.ceiling, "
        "r.dataset_id, r.finetuned_model_id "
        "FROM finetune_results AS r JOIN finetune_runs AS f USING (finetune_id) "
        "LEFT JOIN datasets AS d ON d.dataset_id = r.dataset_id "
        "WHERE r.status = 'completed' AND r.test_rho IS NOT NULL "
        "ORDER BY r.model, r.random_init, r.dataset, r.split, r.finetune_id")
    runs = runs.filter(pl.col("model").is_in(models))
    if run_ids is not None:
        runs = runs.filter(pl.col("run_id").is_in(run_ids))
    if runs.is_empty():
        return None
    name_sql = ("coalesce(t.name, d.name, p.brain_target_id)" if "brain_targets" in tables
                else "coalesce(d.name, p.brain_target_id)")
    join_bt = ("LEFT JOIN brain_targets AS t ON t.target_id = p.brain_target_id "
               if "brain_targets" in tables else "")
    penultimate = store.query_polars(
        f"SELECT p.model, p.dataset, p.split, p.region, {name_sql} AS brain_target, "
        "p.test_rho, p.finetuned_similarity, p.pretrained_similarity, p.pretrained_best_rho, "
        "p.pretrained_penultimate_rho, p.penultimate_layer, p.finetune_id, p.dataset_id, "
        "p.brain_target_id FROM finetune_penultimate_scores AS p "
        f"{join_bt}LEFT JOIN datasets AS d ON d.dataset_id = p.brain_target_id "
        "WHERE list_contains(?, p.finetune_id) AND list_contains(?, p.region) "
        "ORDER BY p.dataset, p.split, p.region, brain_target, p.model, p.finetune_id",
        [runs["finetune_id"].to_list(), targets])
    return FinetuneData(runs=runs, penultimate=penultimate,
                        relations=finetune_relations(penultimate, targets))


def finetune_relations(penultimate: pl.DataFrame, targets: list[str]) -> pl.DataFrame:
    """Across models: Spearman of fine-tuned test rho vs penultimate similarity, with n."""
    rows = []
    keys = ["dataset", "split", "region", "brain_target", "brain_target_id", "dataset_id"]
    order = {t: i for i, t in enumerate(targets)}
    groups = penultimate.select(keys).unique().rows(named=True)
    groups.sort(key=lambda g: (g["dataset"], g["split"], order.get(g["region"], 99),
                               g["brain_target"], g["brain_target_id"]))
    for g in groups:
        frame = penultimate.filter(pl.all_horizontal(pl.col(k) == g[k] for k in keys))
        row = dict(g)
        y = column(frame, "test_rho")
        for kind, col in (("finetuned", "finetuned_similarity"),
                          ("from_pretrained", "pretrained_similarity")):
            x = column(frame, col)
            n = int(np.sum(np.isfinite(x) & np.isfinite(y)))
            row[f"{kind}_n"] = n
            row[f"{kind}_rho"] = spearman(x, y) if n >= 3 else None
        rows.append(row)
    schema = {k: pl.String for k in keys} | {
        "finetuned_n": pl.Int64, "finetuned_rho": pl.Float64,
        "from_pretrained_n": pl.Int64, "from_pretrained_rho": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
