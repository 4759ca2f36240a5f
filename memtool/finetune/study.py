"""The fine-tuned-models study: fine-tune many models, then score their penultimate layer.

:func:`run_study` fine-tunes every model on every chosen split (one
:func:`memtool.finetune.train.finetune_model` call each: finished runs are skipped,
half-trained ones resume from ``last.pt``), then scores the penultimate layer of each
fine-tuned checkpoint, and of the pretrained model it started from, with the sweep's own
code (``run_sweep`` with ``layers="penultimate"``; a layer the store already holds is not
recomputed). The views ``finetune_results``, ``finetune_penultimate_scores`` and
``finetune_brain_relation`` relate the two across models.

The data set is loaded and split before any model is built, so data problems stop the
study at once; a model that cannot be built or trained (unknown name, missing weights,
divergence) is recorded as failed and the study goes on with the others.

Note on the penultimate memorability score of a fine-tuned model: for LaMem the sweep
uses the same published split, so its readout is tested on images the network never saw;
for K-fold sets the sweep's cross-validation also tests on images the network was
fine-tuned on, so that number is optimistic (the views' headline is the held-out test rho
of the fine-tuning run itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from memtool.errors import MemtoolError, ModelError, UsageError
from memtool.finetune.runs import FinetuneConfig, FinetuneOptions, FinetuneResult
from memtool.finetune.train import finetune_model
from memtool.progress import NullReporter, Reporter
from memtool.store import Store


@dataclass
class StudyConfig(FinetuneOptions):
    """Which models to fine-tune on which splits; every run trains with the options of
    :class:`~memtool.finetune.runs.FinetuneOptions` (recipe, device, folder, ...)."""

    models: list[str]
    data: str = "demo"
    splits: list[int] = field(default_factory=lambda: [1])
    score_penultimate: bool = True
    brain: list[str] | None = None  # brain targets for the penultimate sweep (SweepConfig.brain)

    def describe(self) -> dict:
        return {
            "models": list(self.models),
            "data": self.data,
            "splits": list(self.splits),
            "folds": self.folds,
            "limit": self.limit,
            "recipe": self.recipe.describe(),
            "device": self.device,
            "workers": self.workers,
            "out_dir": str(self.out_dir),
            "random_init": self.random_init,
            "n_boot": self.n_boot,
            "force": self.force,
            "score_penultimate": self.score_penultimate,
            "brain": self.brain,
        }


@dataclass
class Failure:
    model: str
    split: int
    stage: str  # "finetune" | "penultimate"
    error: str


@dataclass
class StudyResult:
    run_id: str
    db: Path
    results: list[FinetuneResult]
    failures: list[Failure]
    penultimate_model_ids: list[str]  # models whose penultimate layer the sweep scored
    brain_scored: bool  # whether brain targets were passed to the sweep


def sweep_supports_brain() -> bool:
    """Whether this memtool's sweep can score brain targets (``SweepConfig.brain``)."""
    from memtool.sweep import SweepConfig

    return "brain" in {f.name for f in fields(SweepConfig)}


def run_study(
    config: StudyConfig,
    db: str | Path,
    *,
    command: str = "memtool finetune",
    reporter: Reporter | None = None,
) -> StudyResult:
    """Fine-tune every model on every split, then score penultimate layers (see module doc)."""
    from memtool.finetune.data import load_split_dataset, split_parts
    from memtool.runtime import resolve_device, run_lifecycle, software_versions

    reporter = reporter or NullReporter()
    models = list(dict.fromkeys(m.strip() for m in config.models if m.strip()))
    if not models:
        raise UsageError("no model to fine-tune", hint="pass --model NAME (repeatable) or --models-from FILE")
    splits = list(dict.fromkeys(config.splits or [1]))
    brain = list(config.brain or [])
    if brain and not sweep_supports_brain():
        raise UsageError(
            "--brain needs a memtool whose sweep scores brain targets",
            hint="leave out --brain (memorability only) or update memtool",
        )
    device = resolve_device(config.device)
    datasets = {}
    for number in splits:  # data problems stop the study before any model is built
        datasets[number] = load_split_dataset(
            config.data, number, folds=config.folds, seed=config.recipe.seed, limit=config.limit
        )
        split_parts(
            datasets[number], number, val_fraction=config.recipe.val_fraction, seed=config.recipe.seed
        )

    store = Store(db)
    store.migrate()
    results: list[FinetuneResult] = []
    failures: list[Failure] = []
    scored: list[str] = []
    with run_lifecycle(
        store,
        kind="finetune",
        command=command,
        config=config.describe(),
        versions=software_versions(),
        device=str(device),
    ) as run:
        run_id = run.run_id
        for i, model in enumerate(models, 1):
            for number in splits:
                reporter.message(f"[{i}/{len(models)}] {model} split {number}")
                try:
                    result = finetune_model(
                        FinetuneConfig(
                            model=model,
                            data=config.data,
                            split=number,
                            **config.options(),
                        ),
                        store,
                        run_id=run_id,
                        reporter=reporter,
                        dataset=datasets[number],
                    )
                except ModelError as exc:  # this model only (WeightsError included)
                    failures.append(Failure(model, number, "finetune", exc.one_line()))
                    reporter.message(f"{model}: failed: {exc.one_line()}")
                    continue
                results.append(result)
                if result.status == "skipped":
                    reporter.message(
                        f"{result.model} {result.split}: finished before (test rho "
                        f"{_fmt(result.test_rho)}); skipped (--force retrains)"
                    )
                if config.score_penultimate:
                    scored += _score_penultimate(
                        config, model, number, datasets[number].kind, result, store, brain, failures, reporter
                    )
        run.status = "completed" if not failures else "failed"
        run.error = "; ".join(f"{f.model} split {f.split} ({f.stage}): {f.error}" for f in failures) or None
        run.timings = lambda: {"models": {r.model: r.seconds for r in results}}
    return StudyResult(
        run_id=run_id,
        db=store.path,
        results=results,
        failures=failures,
        penultimate_model_ids=scored,
        brain_scored=bool(brain),
    )


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _score_penultimate(
    config: StudyConfig,
    model: str,
    number: int,
    kind: str,
    result: FinetuneResult,
    store: Store,
    brain: list[str],
    failures: list[Failure],
    reporter: Reporter,
) -> list[str]:
    """Sweep the penultimate layer of the fine-tuned checkpoint and of the pretrained model."""
    from memtool.sweep import SweepConfig, run_sweep

    from memtool.finetune.checkpoint import checkpoint_extras

    specs = [str(result.checkpoint)]
    if not config.random_init:
        specs.append(model)
    # A stage head's "penultimate" layer is the pooled concatenation of the stages: the
    # pretrained model is swept wrapped in the same stages, so the two compare like for like.
    stages = checkpoint_extras(result.checkpoint).get("head_stages")  # none: the sweep below says why
    lamem = kind == "lamem"  # sweep the same published split: its test images stay held out
    scored = []
    for spec in specs:
        options = dict(
            models=[spec],
            data=config.data,
            layers="penultimate",
            folds=config.folds,
            seed=config.recipe.seed,
            splits=[number] if lamem else None,
            limit=config.limit,
            batch_size=config.recipe.batch_size,
            device=config.device,
            workers=config.workers,
            n_boot=config.n_boot,
        )
        if brain:
            options["brain"] = brain
        if stages and spec == model:
            options["head_stages"] = list(stages)
        try:
            swept = run_sweep(
                SweepConfig(**options),
                store.path,
                command=f"memtool finetune (penultimate layer of {spec})",
                reporter=reporter,
            )
        except MemtoolError as exc:
            failures.append(Failure(model, number, "penultimate", exc.one_line()))
            reporter.message(f"{spec}: penultimate layer not scored: {exc.one_line()}")
            continue
        scored += [m.model_id for m in swept.models]
    return scored
