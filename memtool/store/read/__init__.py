"""The one read layer over a results store: polars frames for the TUI, the report and analyze.

Open a batch of reads with ``reading(store)`` (one read-only connection, closed at the end
of the ``with`` block) and pass the ``ReadSession`` it yields to the functions here. They
select and filter what the SQL views compute; they compute no statistic of their own
(those are in ``memtool.scoring.stats``). Nothing here imports Textual or memtool.tui.

- ``session``: ReadSession, reading, the order of the standard brain regions;
- ``catalog``: summary, runs, data sets, setups, models, model matching, run ids;
- ``brain``: brain targets keyed by target id, the targets the wide view shows, points;
- ``scores``: layer_scores_wide, best layers, the analysis views;
- ``finetune``: fine-tuning jobs, epochs and relations; the study's findings.
"""

from memtool.store.read.brain import BrainTarget, brain_targets, points, shown_target_names, stored_regions
from memtool.store.read.catalog import (
    Setup,
    datasets,
    fingerprint,
    live_durations,
    match_models,
    model_names,
    resolve_runs,
    runs,
    scored_models,
    setups,
    summary,
)
from memtool.store.read.finetune import (
    FinetuneJobs,
    brain_relation,
    completed_runs,
    count_jobs,
    evaluations_on_test,
    finetune,
    pretrained_layers,
    study_names,
    finetuned_model_ids,
    penultimate_scores,
)
from memtool.store.read.scores import (
    RANK_GROUP,
    best_layers,
    best_memorability_layer_brain,
    brain_correlations,
    brain_layer_pairs,
    region_tracking,
    run_setups,
    wide,
)
from memtool.store.read.session import STANDARD_TARGETS, ReadSession, reading, region_order

__all__ = [
    "RANK_GROUP",
    "STANDARD_TARGETS",
    "BrainTarget",
    "FinetuneJobs",
    "ReadSession",
    "Setup",
    "best_layers",
    "best_memorability_layer_brain",
    "brain_correlations",
    "brain_layer_pairs",
    "brain_relation",
    "brain_targets",
    "completed_runs",
    "evaluations_on_test",
    "pretrained_layers",
    "study_names",
    "count_jobs",
    "datasets",
    "finetune",
    "finetuned_model_ids",
    "fingerprint",
    "live_durations",
    "match_models",
    "model_names",
    "penultimate_scores",
    "points",
    "reading",
    "region_order",
    "region_tracking",
    "resolve_runs",
    "run_setups",
    "runs",
    "scored_models",
    "setups",
    "shown_target_names",
    "stored_regions",
    "summary",
    "wide",
]
