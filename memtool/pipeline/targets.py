"""What a model's layers are scored against: memorability, or one brain target.

A target tells the pipeline's one loop (memtool.pipeline.loop) everything that differs
between kinds of target: the stimuli to run through the model, the setup its stored rows
belong to (so finished layers are skipped), how a chunk of extracted layers is scored and
becomes rows, and which sink method takes those rows. How the layers' features are made
(the sweep's reducer, or Brain-Score's PCA) is the loop's other input
(memtool.pipeline.features), so every target works with either.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol, Sequence

from memtool.errors import MemtoolError
from memtool.pipeline.config import TARGET


class Target(Protocol):
    name: str
    key: str  # layer_scores.target: "memorability" or a brain region
    setup_id: str
    stimuli: Sequence  # image paths, in the order rows of features are filled
    prefix: str  # progress labels start with it
    timing: str  # prefix of its seconds keys: extract / score

    def skipped_note(self, n: int) -> str: ...
    # (result, seconds) per layer; calls advance(k) as layers are done
    def score(self, run, layers: Sequence, feats: list, advance: Callable) -> list[tuple]: ...
    def rows(self, run, layer, n_features: int, result, seconds: float, spec: str) -> list: ...
    def write(self, sink, rows: list) -> None: ...


def _num(x) -> float | None:
    """NaN -> NULL in the database."""
    return None if x is None or x != x else float(x)


class MemorabilityTarget:
    """The data set's memorability scores: a cross-validated ridge readout per layer, run
    in torch on the sweep's device over all layers of a chunk at once."""

    key = name = TARGET
    prefix = timing = ""

    def __init__(self, ctx):
        self.ctx = ctx
        self.setup_id = ctx.setup_id
        self.stimuli = ctx.dataset.paths

    def skipped_note(self, n: int) -> str:
        return f"{n} layers already scored for this setup: skipped (--force recomputes)"

    def score(self, run, layers, feats, advance) -> list[tuple]:
        import numpy as np

        from memtool.scoring.readout_torch import score_layers

        for p, f in zip(layers, feats):
            if not np.all(np.isfinite(f)):
                raise MemtoolError(
                    f"layer {p.name} of {run.loaded.name} produced NaN or inf activations",
                    hint="check the weights, or exclude the layer with --layers REGEX",
                )
        t0 = time.perf_counter()
        ctx = self.ctx
        results = score_layers(feats, ctx.dataset.scores, ctx.dataset.splits, ctx.readout, device=ctx.device)
        each = (time.perf_counter() - t0) / len(layers)
        advance(len(layers))
        return [(r, each) for r in results]

    def rows(self, run, layer, n_features, result, seconds, spec) -> list[dict]:
        return [
            {
                "run_id": run.run_id,
                "model_id": run.model_id,
                "layer_name": layer.name,
                "dataset_id": self.ctx.dataset_id,
                "setup_id": self.setup_id,
                "target": TARGET,
                "fold": fs.fold,
                "metric": "spearman",
                "score": _num(fs.rho),
                "ci_low": _num(fs.ci_low),
                "ci_high": _num(fs.ci_high),
                "alpha": fs.alpha,
                "n_train": fs.n_train,
                "n_test": fs.n_test,
                "reducer": spec,
                "n_features": n_features,
                "seconds": round(seconds, 4),
            }
            for fs in [*result.folds, result.pooled]
        ]

    def write(self, sink, rows: list) -> None:
        sink.insert_scores(rows)


class BrainScoringTarget:
    """A brain target (memtool.scoring.brain.BrainTarget) in the loop: each layer scored
    by brainscore-vision's metric and ceiling, rows as (layer_scores, brain_scores) pairs."""

    timing = "brain_"

    def __init__(self, target, setup_id: str):
        self.target, self.setup_id = target, setup_id
        self.name, self.key = target.name, target.region
        self.stimuli = target.stimuli
        self.features = target.features  # "brainscore" | "reducer"
        self.prefix = f"{target.name}: "

    def register(self, sink, ctx) -> None:
        """Its data set, setup and target rows, before any of its scores."""
        from memtool.pipeline.context import brain_features
        from memtool.scoring.brain import target_records

        sink.register_brain_target(
            target_records(self.target, *brain_features(self.target, ctx.reducer, ctx.reference))
        )

    def skipped_note(self, n: int) -> str:
        return f"{self.name}: {n} layers already scored: skipped (--force recomputes)"

    def score(self, run, layers, feats, advance) -> list[tuple]:
        out = []
        for p, f in zip(layers, feats):
            t0 = time.perf_counter()
            out.append((self.target.score(f, layer=p.name), time.perf_counter() - t0))
            advance()
        return out

    def rows(self, run, layer, n_features, result, seconds, spec) -> list[tuple]:
        from memtool.scoring.brain import score_rows

        return [
            score_rows(
                run_id=run.run_id,
                model_id=run.model_id,
                layer=layer.name,
                target=self.target,
                setup_id=self.setup_id,
                reducer_spec=spec,
                n_features=n_features,
                score=result,
                seconds=seconds,
            )
        ]

    def write(self, sink, rows: list) -> None:
        sink.insert_brain_scores(rows)
