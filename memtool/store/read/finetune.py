"""Fine-tuning results and the study's findings (sql/schema/002_finetune.sql, 010_study.sql).

The fine-tuning tables and views are optional: a store written by an older memtool lacks
them, so their presence and columns are looked up instead of being assumed, and each
function says what it returns for a store without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import polars as pl

from memtool.store.read.brain import name_sql
from memtool.store.read.catalog import FINETUNE_EPOCHS, FINETUNE_RUNS
from memtool.store.read.session import ReadSession, region_order

JOB_COLUMNS = (
    "model",
    "dataset",
    "split",
    "status",
    "epochs_done",
    "epochs_planned",
    "best_epoch",
    "best_val_rho",
    "test_rho",
    "test_ci_low",
    "test_ci_high",
    "penultimate_layer",
    "IT",
    "pretrained_IT",
    "error",
    "finetune_id",
    "dataset_id",
)
EPOCH_COLUMNS = ("finetune_id", "epoch", "train_loss", "val_loss", "val_rho")
RELATION_COLUMNS = (
    "model",
    "dataset",
    "dataset_id",
    "split",
    "region",
    "brain_target_id",
    "test_rho",
    "finetuned_similarity",
    "pretrained_similarity",
)
RELATION_STATS_COLUMNS = (
    "dataset_id",
    "split",
    "region",
    "brain_target_id",
    "finetuned_n",
    "finetuned_rho",
    "finetuned_ci_low",
    "finetuned_ci_high",
    "from_pretrained_n",
    "from_pretrained_rho",
    "from_pretrained_ci_low",
    "from_pretrained_ci_high",
)
FINETUNE_VIEWS = ("finetune_results", "finetune_penultimate_scores")


@dataclass
class FinetuneJobs:
    """Every fine-tuning job (newest first), their epochs, and across models the fine-tuned
    test rho against penultimate-layer brain similarity (``finetune_penultimate_scores``)
    with its correlation (``finetune_brain_relation``)."""

    jobs: pl.DataFrame
    epochs: pl.DataFrame
    relation: pl.DataFrame
    relation_stats: pl.DataFrame

    def job(self, finetune_id: str) -> dict | None:
        rows = self.jobs.filter(pl.col("finetune_id") == finetune_id).to_dicts()
        return rows[0] if rows else None

    def curve(self, finetune_id: str) -> pl.DataFrame | None:
        """The job's epochs (epoch, train_loss, val_loss, val_rho), None before the first."""
        frame = self.epochs.filter(pl.col("finetune_id") == finetune_id)
        return None if frame.is_empty() else frame

    def _of(self, frame: pl.DataFrame, dataset_id: str, split: str) -> pl.DataFrame:
        if frame.is_empty():
            return frame
        return frame.filter((pl.col("dataset_id") == dataset_id) & (pl.col("split") == split))

    def regions(self, dataset_id: str, split: str) -> list[str]:
        frame = self._of(self.relation, dataset_id, split)
        found = set(frame["region"].to_list()) if "region" in frame.columns else set()
        return sorted(found, key=region_order)

    def relation_points(self, dataset_id: str, split: str, region: str) -> list[dict]:
        frame = self._of(self.relation, dataset_id, split)
        return [] if frame.is_empty() else frame.filter(pl.col("region") == region).to_dicts()

    def relation_summary(self, dataset_id: str, split: str, region: str) -> list[dict]:
        frame = self._of(self.relation_stats, dataset_id, split)
        return [] if frame.is_empty() else frame.filter(pl.col("region") == region).to_dicts()


def finetune(s: ReadSession) -> FinetuneJobs | None:
    """Every fine-tuning job with its epochs and relation; None while the store has no
    fine-tuning tables (schema 002) or no job in them."""
    if not s.has(FINETUNE_RUNS, FINETUNE_EPOCHS):
        return None
    source = "finetune_results" if s.has("finetune_results") else FINETUNE_RUNS
    jobs = s.select_present(source, JOB_COLUMNS, "ORDER BY started_at DESC, finetune_id")
    if jobs.is_empty():
        return None
    epochs = s.select_present(FINETUNE_EPOCHS, EPOCH_COLUMNS, "ORDER BY finetune_id, epoch")
    relation = stats = pl.DataFrame()
    if s.has("finetune_penultimate_scores"):
        relation = s.select_present(
            "finetune_penultimate_scores", RELATION_COLUMNS, "ORDER BY dataset, split, region, model"
        )
    if s.has("finetune_brain_relation"):
        stats = s.select_present("finetune_brain_relation", RELATION_STATS_COLUMNS)
    return FinetuneJobs(jobs, epochs, relation, stats)


def finetuned_model_ids(s: ReadSession) -> list[str]:
    """Model ids of fine-tuned checkpoints (their layers are not the pretrained model's)."""
    if not s.has(FINETUNE_RUNS):
        return []
    return s.frame(
        f"SELECT DISTINCT finetuned_model_id FROM {FINETUNE_RUNS} "
        "WHERE finetuned_model_id IS NOT NULL ORDER BY 1"
    )["finetuned_model_id"].to_list()


def count_jobs(s: ReadSession) -> int:
    return s.row(f"SELECT count(*) FROM {FINETUNE_RUNS}")[0] if s.has(FINETUNE_RUNS) else 0


def completed_runs(s: ReadSession) -> pl.DataFrame | None:
    """Completed fine-tuning runs with a test rho (``finetune_results``), with the run that
    trained them and the data set's ceiling; None for a store without fine-tuning views."""
    if not s.has(FINETUNE_RUNS, *FINETUNE_VIEWS):
        return None
    return s.frame(
        "SELECT r.model, r.random_init, r.dataset, r.split, r.n_test, r.epochs_done, "
        "r.best_epoch, r.best_val_rho, r.test_rho, r.test_ci_low, r.test_ci_high, "
        "r.resmem_test_rho, r.penultimate_layer, r.finetune_id, f.run_id, d.ceiling, "
        "r.dataset_id, r.finetuned_model_id "
        "FROM finetune_results AS r JOIN finetune_runs AS f USING (finetune_id) "
        "LEFT JOIN datasets AS d ON d.dataset_id = r.dataset_id "
        "WHERE r.status = 'completed' AND r.test_rho IS NOT NULL "
        "ORDER BY r.model, r.random_init, r.dataset, r.split, r.finetune_id"
    )


def penultimate_scores(s: ReadSession, finetune_ids: Sequence[str], regions: Sequence[str]) -> pl.DataFrame:
    """``finetune_penultimate_scores`` rows of these runs and regions, with the brain target's name."""
    name, joins = name_sql(s, "p.brain_target_id")
    return s.frame(
        f"SELECT p.model, p.dataset, p.split, p.region, coalesce({name}, p.brain_target_id) "
        "AS brain_target, p.test_rho, p.finetuned_similarity, p.pretrained_similarity, "
        "p.pretrained_best_rho, p.pretrained_penultimate_rho, p.penultimate_layer, p.finetune_id, "
        f"p.dataset_id, p.brain_target_id FROM finetune_penultimate_scores AS p {joins}"
        "WHERE list_contains(?, p.finetune_id) AND list_contains(?, p.region) "
        "ORDER BY p.dataset, p.split, p.region, brain_target, p.model, p.finetune_id",
        [list(finetune_ids), list(regions)],
    )


# -- the study's findings (memtool.report.study) ---------------------------------------------
def study_names(s: ReadSession) -> list[str]:
    if not s.has("study_progress"):
        return []
    return s.frame("SELECT DISTINCT study FROM study_progress ORDER BY study")["study"].to_list()


def pretrained_layers(s: ReadSession, regions: Sequence[str]) -> pl.DataFrame:
    """Pooled-feature layers of the pretrained models (``pretrained_models``) with a
    memorability score, and their scores for the regions, by model and layer (a fixed order:
    the bootstrap over layers draws by position)."""
    cols = ", ".join(f"w.{r}" for r in regions)
    return s.frame(
        f"SELECT w.model, w.model_id, w.setup_id, w.relative_depth, w.memorability, {cols} "
        "FROM layer_scores_wide AS w JOIN pretrained_models AS p ON p.model_id = w.model_id "
        "WHERE w.alias_of IS NULL AND w.memorability IS NOT NULL AND w.reducer = 'pool' "
        "ORDER BY w.model, w.model_id, w.setup_id, w.layer_index, w.layer"
    )


def brain_relation(s: ReadSession) -> pl.DataFrame:
    """``finetune_brain_relation``: across models, accuracy vs penultimate similarity."""
    if not s.has("finetune_brain_relation"):
        return pl.DataFrame()
    return s.frame(
        "SELECT dataset, split, region, finetuned_n AS n, finetuned_rho AS rho, "
        "finetuned_ci_low AS ci_low, finetuned_ci_high AS ci_high, from_pretrained_rho, "
        "pretrained_penult_n AS pre_n, pretrained_penult_rho AS pre_rho, "
        "pretrained_penult_ci_low AS pre_ci_low, pretrained_penult_ci_high AS pre_ci_high, "
        "pretrained_best_rho AS pre_best_rho "
        "FROM finetune_brain_relation ORDER BY dataset, split, region"
    )


def evaluations_on_test(s: ReadSession) -> pl.DataFrame:
    """Test-set evaluations of every predictor (fine-tuned models, baselines) on the data
    sets and splits that have completed fine-tuning runs, with the data set's ceiling."""
    if not s.has("evaluations", FINETUNE_RUNS):
        return pl.DataFrame()
    return s.frame(
        "WITH ft AS (SELECT DISTINCT dataset_id, split FROM finetune_runs WHERE status = 'completed') "
        "SELECT e.predictor_id, e.predictor, "
        "CASE WHEN e.predictor = 'resmem' THEN 'baseline' ELSE 'fine-tuned' END AS kind, "
        "e.dataset, e.split, e.part, e.n_images AS n, e.rho, e.ci_low, e.ci_high, d.ceiling "
        "FROM evaluations AS e JOIN ft USING (dataset_id, split) "
        "LEFT JOIN datasets AS d USING (dataset_id) "
        "WHERE e.part = 'test' ORDER BY e.dataset, e.split, e.rho DESC"
    )
