"""The per-model pipeline: load → probe → extract groups → score every target → sink.

``config`` (what a sweep is asked, what it reports), ``context`` (what every model
shares), ``model`` (``sweep_model``: one model, start to end), ``loop`` (the one loop of
every target), ``targets`` (memorability, brain), ``features`` (reducer or Brain-Score
PCA), ``images`` (batches on the device), ``preflight`` (checks before any work). The
pipeline never knows where it runs: engines (memtool.engines) call ``sweep_model`` with
a result sink (memtool.store.sink).
"""

from memtool.pipeline.config import DEMO_MODEL, TARGET, ModelOutcome, SweepConfig, SweepResult
from memtool.pipeline.context import SweepContext, build_context
from memtool.pipeline.model import sweep_model

__all__ = [
    "DEMO_MODEL",
    "TARGET",
    "ModelOutcome",
    "SweepConfig",
    "SweepContext",
    "SweepResult",
    "build_context",
    "sweep_model",
]
