"""What a sweep is asked to do (``SweepConfig``) and what it reports back (outcomes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

TARGET = "memorability"
DEMO_MODEL = "tf_efficientnet_lite0"


@dataclass
class SweepConfig:
    models: list[str] = field(default_factory=lambda: [DEMO_MODEL])
    data: str = "demo"
    layers: str = "all"
    reducer: str = "pool"
    folds: int = 5
    seed: int = 0
    splits: list[int] | None = None  # published splits to use (LaMem); None = all
    limit: int | None = None  # seeded subset of the images, for quick runs
    batch_size: int = 32
    device: str = "auto"
    workers: int | None = None  # DataLoader workers; None = 0 on CPU, min(8, cores) on CUDA
    checkpoint: str | None = None
    random_init: bool = False
    force: bool = False
    memory_budget_gb: float = 4.0  # features held at once; more layers -> more passes
    n_boot: int = 1000
    commit_every: int = 8  # layers per database transaction
    brain: list[str] = field(default_factory=list)  # brain targets (memtool.scoring.brain specs)
    brain_regression: str = "pls"  # metric for local response data: pls | ridge
    # who fits brain PLS/ridge regressions: fast (memtool's torch, on the sweep's device) |
    # exact (brainscore-vision's scikit-learn metric, unchanged)
    brain_regression_impl: str = "fast"
    # Features brain targets are scored on: "brainscore" (flatten + PCA-1000 on reference
    # images, as Brain-Score does) or "reducer" (the sweep's --reducer). None: brainscore
    # for Brain-Score registry targets, reducer for local data and RDMs.
    brain_features: str | None = None
    pca_images: str | None = None  # folder of >= 1000 reference images (first 1000 by name)
    # wrap each model in a stage head over these stages (memtool.models.stage_head): the
    # pretrained counterpart of a fine-tuned stage-head model, whose "penultimate" layer
    # is then the same pooled concatenation of stages
    head_stages: list[str] | None = None

    def describe(self) -> dict:
        return asdict(self)

    @property
    def budget_bytes(self) -> int:
        return int(self.memory_budget_gb * 2**30)


@dataclass
class ModelOutcome:
    name: str
    model_id: str
    weights_source: str
    n_layers: int
    n_scored: int
    n_skipped: int
    n_aliases: int
    n_passes: int
    seconds: dict
    error: str | None = None  # set when a model's task failed for a data/model reason
    exit_code: int | None = None  # the failure's exit code, when known (local engine)

    @classmethod
    def failed(cls, name: str, error: str, seconds: float, exit_code: int | None = None) -> "ModelOutcome":
        """A model whose task failed: nothing scored, the error kept."""
        return cls(
            name=name,
            model_id="",
            weights_source="",
            n_layers=0,
            n_scored=0,
            n_skipped=0,
            n_aliases=0,
            n_passes=0,
            seconds={"total": seconds},
            error=error,
            exit_code=exit_code,
        )


@dataclass
class SweepResult:
    run_id: str
    db: Path
    dataset_id: str
    models: list[ModelOutcome]
    setup_id: str = ""
