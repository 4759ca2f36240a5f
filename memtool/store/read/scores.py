"""Layer scores: the wide per-layer table, best layers, and the analysis views' rows.

The numbers are the views' (``layer_scores_wide``, ``best_layer_per_model``,
``memorability_brain_*``, ``best_memorability_layer_brain``,
``brain_region_tracking_memorability``); functions here only select and filter them.
"""

from __future__ import annotations

from typing import Sequence

import polars as pl

from memtool.store.read.session import ReadSession


def wide(s: ReadSession, *, aliases: bool = True) -> pl.DataFrame:
    """``layer_scores_wide``: one row per model x layer x memorability setup, brain regions as
    columns; ``aliases=False`` leaves out the layers that share another layer's output."""
    where = "" if aliases else " WHERE alias_of IS NULL"
    return s.frame(
        f"SELECT * FROM layer_scores_wide{where} "
        "ORDER BY model, dataset, reducer, setup_id, model_id, layer_index, layer"
    )


def best_layers(s: ReadSession) -> pl.DataFrame:
    """``best_layer_per_model``: each model's best memorability layer per setup."""
    return s.frame("SELECT * FROM best_layer_per_model ORDER BY dataset, reducer, setup_id, model, model_id")


def run_setups(s: ReadSession, run_ids: Sequence[str]) -> pl.DataFrame:
    """(model_id, setup_id) pairs the runs wrote memorability scores for, plus every
    memorability setup of the models the runs wrote brain scores for."""
    return s.frame(
        "SELECT DISTINCT model_id, setup_id FROM layer_scores "
        "WHERE list_contains(?, run_id) AND target = 'memorability' UNION "
        "SELECT DISTINCT m.model_id, m.setup_id FROM layer_scores AS m "
        "WHERE m.target = 'memorability' AND m.model_id IN ("
        "  SELECT model_id FROM layer_scores "
        "  WHERE list_contains(?, run_id) AND target <> 'memorability') "
        "ORDER BY model_id, setup_id",
        [list(run_ids), list(run_ids)],
    )


# -- the analysis views (memtool analyze) ---------------------------------------------------
def _filters(models, targets, *, scoped: bool, prefix: str = "") -> tuple[list[str], list]:
    """WHERE terms for model names and brain targets; pooled rows (scope) stay whatever the models."""
    where, params = [], []
    if models:
        marks = ", ".join("?" * len(models))
        where.append(f"{prefix}model IN ({marks})" + (f" OR {prefix}scope = 'pooled'" if scoped else ""))
        params += list(models)
    if targets:
        marks = ", ".join("?" * len(targets))
        where.append(f"{prefix}region IN ({marks}) OR {prefix}brain_target IN ({marks})")
        params += list(targets) * 2
    return where, params


def _where(terms: list[str]) -> str:
    return (" WHERE " + " AND ".join(f"({t})" for t in terms)) if terms else ""


def brain_correlations(
    s: ReadSession, *, models=None, targets=None, model_ids=None, dataset_id=None
) -> pl.DataFrame:
    """``memorability_brain_partial`` rows with the Fisher-z CI of rho from
    ``memorability_brain_correlation``: pooled rows first, then per model.

    ``models``: model names; ``targets``: regions or brain target names; ``model_ids``
    narrows the per-model rows (pooled rows always cover every model); ``dataset_id``
    keeps one memorability data set.
    """
    terms, params = _filters(models, targets, scoped=True, prefix="p.")
    if model_ids:
        terms.append(f"p.model_id IN ({', '.join('?' * len(model_ids))}) OR p.scope = 'pooled'")
        params += list(model_ids)
    if dataset_id:
        terms.append("p.memorability_dataset_id = ?")
        params.append(dataset_id)
    return s.frame(
        "SELECT p.*, c.spearman_ci_low, c.spearman_ci_high "
        "FROM memorability_brain_partial AS p JOIN memorability_brain_correlation AS c "
        "ON c.scope = p.scope AND c.model_id IS NOT DISTINCT FROM p.model_id "
        "AND c.memorability_setup_id = p.memorability_setup_id "
        "AND c.brain_setup_id = p.brain_setup_id AND c.region = p.region"
        + _where(terms)
        + " ORDER BY p.scope DESC, p.model, p.region, p.brain_target",
        params,
    )


RANK_GROUP = ("scope", "model_id", "memorability_setup_id", "brain_setup_id", "region")
"""The columns that name one correlation's group of layers in ``memorability_brain_ranks``."""


def brain_layer_pairs(s: ReadSession) -> pl.DataFrame:
    """``memorability_brain_ranks``: per correlation group, each layer's memorability and brain
    score and relative depth (what the bootstrap over layers resamples), in a fixed order:
    the bootstrap draws layers by position, so an unordered read would change its CIs."""
    return s.frame(
        f"SELECT {', '.join(RANK_GROUP)}, memorability, brain, relative_depth "
        "FROM memorability_brain_ranks ORDER BY ALL"
    )


def _view(
    s: ReadSession, view: str, columns: str, filters: tuple[list[str], list], order: str
) -> pl.DataFrame:
    terms, params = filters
    return s.frame(f"SELECT {columns} FROM {view}{_where(terms)} ORDER BY {order}", params)


def best_memorability_layer_brain(s: ReadSession, *, models=None, targets=None) -> pl.DataFrame:
    """``best_memorability_layer_brain``: each model's best memorability layer and its brain scores."""
    return _view(
        s,
        "best_memorability_layer_brain",
        "model, best_memorability_layer, relative_depth, memorability, brain_target, region, "
        "brain_metric, brain, brain_rank, n_brain_layers, best_brain_layer, best_brain_score",
        _filters(models, targets, scoped=False),
        "model, region, brain_target",
    )


def region_tracking(s: ReadSession, *, models=None) -> pl.DataFrame:
    """``brain_region_tracking_memorability``: the target whose similarity best tracks memorability."""
    return _view(
        s,
        "brain_region_tracking_memorability",
        "scope, model, best_target, best_region, n_layers, spearman, partial_spearman, "
        "runner_up_target, runner_up_spearman, best_partial_target, best_partial_spearman, "
        "n_targets",
        _filters(models, None, scoped=True),
        "scope DESC, model",
    )
