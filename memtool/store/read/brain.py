"""Brain targets and their scores, keyed by target id (a region may have several targets).

Everything here reads ``latest_brain_scores`` (sql/views/staging/), the one definition of
"the latest brain score per layer and target"; targets of one region (monkey IT and
human IT, say) are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from memtool.store.read.catalog import Setup
from memtool.store.read.session import LATEST_BRAIN_SCORES as LATEST
from memtool.store.read.session import ReadSession, region_order


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


def name_sql(s: ReadSession, target_id: str) -> tuple[str, str]:
    """(expression, joins) naming the brain target whose id is the column ``target_id``:
    its ``brain_targets`` name, else its data set's name (NULL when neither is known)."""
    joins = f"LEFT JOIN datasets AS d ON d.dataset_id = {target_id} "
    if s.has("brain_targets"):
        joins = f"LEFT JOIN brain_targets AS t ON t.target_id = {target_id} " + joins
        return "coalesce(t.name, d.name)", joins
    return "d.name", joins


def brain_targets(s: ReadSession) -> list[BrainTarget]:
    """Brain targets with pooled scores: regions in V1..behavior order, then the others."""
    name, joins = name_sql(s, "b.brain_target_id")
    frame = s.frame(
        f"SELECT b.region, b.brain_target_id, any_value({name}) AS name FROM {LATEST} AS b "
        f"{joins}GROUP BY b.region, b.brain_target_id"
    )
    rows = sorted(frame.rows(), key=lambda r: (*region_order(r[0]), r[2] or "", r[1]))
    per_region: dict[str, int] = {}
    for region, *_ in rows:
        per_region[region] = per_region.get(region, 0) + 1
    return [BrainTarget(region, target_id, name, per_region[region] > 1) for region, target_id, name in rows]


def shown_target_names(s: ReadSession) -> pl.DataFrame:
    """Which brain target each region's column of ``layer_scores_wide`` shows, per model and
    reducer (the one ``latest_brain_scores`` marks with ``region_choice = 1``), by name."""
    name, joins = name_sql(s, "b.brain_target_id")
    return s.frame(
        f"SELECT DISTINCT b.model_id, b.reducer, b.region, coalesce({name}, b.brain_target_id) AS name "
        f"FROM {LATEST} AS b {joins}WHERE b.region_choice = 1 ORDER BY region, name"
    )


def stored_regions(s: ReadSession) -> list[str]:
    """Every region (target) with brain scores, by name."""
    return s.frame("SELECT DISTINCT target FROM layer_scores WHERE target <> 'memorability' ORDER BY target")[
        "target"
    ].to_list()


def points(s: ReadSession, target: BrainTarget, setup: Setup | None = None) -> pl.DataFrame:
    """Per layer (columns model, layer, depth, memorability, brain): the latest memorability
    rho per setup against the latest score for ``target``, pairing scores of the same model,
    layer and reducer as the ``layer_scores_wide`` view does; by model, depth, layer."""
    where, params = "", []
    if setup is not None:
        where, params = " AND dataset_id = ? AND reducer = ?", [setup.dataset_id, setup.reducer]
    return s.frame(
        "WITH mem AS (SELECT model_id, any_value(model) AS model, layer, reducer,"
        "   any_value(relative_depth) AS depth, arg_max(score, created_at) AS memorability"
        "   FROM layer_scores_pooled WHERE target = 'memorability'"
        + where
        + "   GROUP BY model_id, layer, dataset_id, reducer),"
        f" brain AS (SELECT model_id, layer_name AS layer, reducer, score AS brain FROM {LATEST}"
        "   WHERE region = ? AND brain_target_id = ?)"
        " SELECT mem.model, mem.layer, mem.depth, mem.memorability, brain.brain"
        " FROM mem JOIN brain USING (model_id, layer, reducer)"
        " WHERE mem.memorability IS NOT NULL AND brain.brain IS NOT NULL"
        " ORDER BY mem.model, mem.depth, mem.layer",
        params + [target.region, target.target_id],
    )
