"""The five stages of a study, run into one store; every stage resumes.

The stages orchestrate code that exists for the single commands and compute nothing
themselves:

1. ``sweep``        :func:`memtool.sweep.run_sweep`, one model at a time (or all on Ray);
2. ``finetune``     :func:`memtool.finetune.study.run_study` per model (penultimate off);
3. ``penultimate``  :func:`run_sweep` on ``layers="penultimate"`` of each fine-tuned
                    checkpoint and its pretrained model, with the study's sweep options;
4. ``baselines``    :func:`memtool.finetune.predict.evaluate` of each baseline on the test
                    images of each split the models were fine-tuned on;
5. ``report``       :func:`memtool.report.build_report` (which leads with the study's findings).

Each item (a model, a model x split, a baseline x split) is marked in ``study_progress``
when it starts and ends. An item marked completed with the same options is skipped on a
re-run; an interrupted one is run again, and the code it calls resumes inside it (the sweep
skips scored layers, fine-tuning continues from its last epoch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from memtool.errors import ModelError, recording_failure
from memtool.progress import NullReporter, Reporter
from memtool.store import Store
from memtool.study.config import Study
from memtool.study.records import STAGES, StudyRecords


@dataclass
class Item:
    stage: str
    item: str
    digest: str
    model: str | None = None
    split: int | None = None


@dataclass
class StudyRunResult:
    db: Path
    done: dict[str, int] = field(default_factory=dict)  # stage -> items run now
    skipped: dict[str, int] = field(default_factory=dict)  # stage -> items done before
    failures: list[str] = field(default_factory=list)  # "stage item: error"
    report: Path | None = None
    seconds: float = 0.0


# ------------------------------------------------------------------------ the items


def _sweep_digest(study: Study) -> str:
    described = study.sweep_config(["-"]).describe()
    described.pop("models", None)
    return study.digest("sweep", described, study.engine)


def _finetune_digest(study: Study) -> str:
    return study.digest(
        "finetune", study.recipe_obj().describe(), study.data, study.folds, study.limit, study.n_boot
    )


def stage_items(study: Study) -> dict[str, list[Item]]:
    """Every item of every stage, with the digest of the options it runs with."""
    sweep_d, ft_d = _sweep_digest(study), _finetune_digest(study)
    pen_d = study.digest("penultimate", sweep_d, ft_d)
    base_d = study.digest(
        "baselines",
        study.data,
        study.folds,
        study.limit,
        study.seed,
        study.recipe_obj().val_fraction,
        study.n_boot,
    )
    items = {
        "sweep": [Item("sweep", m, sweep_d, model=m) for m in study.models],
        "finetune": [
            Item("finetune", f"{m} split{n}", ft_d, model=m, split=n)
            for m in study.models
            for n in study.splits
        ],
        "penultimate": [
            Item("penultimate", f"{m} split{n}", pen_d, model=m, split=n)
            for m in study.models
            for n in study.splits
        ],
        "baselines": [
            Item("baselines", f"{b} split{n}", base_d, model=b, split=n)
            for b in study.baselines
            for n in study.splits
        ],
        "report": [Item("report", "report", study.digest("report"))],
    }
    return items


# ------------------------------------------------------------------------ running


def run_study_file(
    study: Study, *, db: Path | None = None, reporter: Reporter | None = None, stages: list[str] | None = None
) -> StudyRunResult:
    """Run (or resume) every stage of ``study``; raises KeyboardInterrupt on Ctrl-C.

    Failures of one model (unknown weights, a model that cannot be built) are recorded and
    the study goes on with the others; problems with the data or the options stop it.
    """
    reporter = reporter or NullReporter()
    store = Store(db or study.store)
    store.migrate()
    records = StudyRecords(store, study.name)
    result = StudyRunResult(db=store.path)
    started = time.perf_counter()
    wanted = stages or list(STAGES)
    items = stage_items(study)
    runners = {
        "sweep": _run_sweep_stage,
        "finetune": _run_finetune_stage,
        "penultimate": _run_penultimate_stage,
        "baselines": _run_baseline_stage,
        "report": _run_report_stage,
    }
    for stage in STAGES:
        if stage not in wanted or not items[stage]:
            continue
        reporter.message(f"study {study.name}: stage {STAGES.index(stage) + 1}/{len(STAGES)} {stage}")
        runners[stage](study, store, records, items[stage], result, reporter)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _context(reporter: Reporter, text: str | None) -> None:
    if hasattr(reporter, "context"):
        reporter.context(text)


def _started(records: StudyRecords, item: Item):
    """Mark ``item`` running; the function returned records how it ended, with its seconds."""
    records.mark(item.stage, item.item, item.digest, "running")
    t0 = time.perf_counter()

    def end(status: str, error: str | None = None, detail: dict | None = None) -> None:
        records.mark(
            item.stage,
            item.item,
            item.digest,
            status,
            error=error,
            detail=detail,
            seconds=round(time.perf_counter() - t0, 3),
        )

    return end


def _each(
    study, records: StudyRecords, items: list[Item], result: StudyRunResult, reporter: Reporter, work
) -> None:
    """Run ``work(item) -> detail`` for every item not done yet, marking each in the store."""
    stage = items[0].stage
    result.done.setdefault(stage, 0)
    result.skipped.setdefault(stage, 0)
    for i, item in enumerate(items, 1):
        if stage != "report" and records.done(stage, item.item, item.digest):
            result.skipped[stage] += 1
            continue
        _context(reporter, f"{stage} {i}/{len(items)} {item.item}")
        end = _started(records, item)
        try:
            with recording_failure(end):  # interrupted or failed, then raised again
                detail = work(item)
        except ModelError as exc:  # this model only; the study goes on
            result.failures.append(f"{stage} {item.item}: {exc.one_line()}")
            reporter.message(f"{item.item}: {stage} failed: {exc.one_line()}")
            continue
        if isinstance(detail, str):  # a failure the called code recorded and survived
            end("failed", error=detail)
            result.failures.append(f"{stage} {item.item}: {detail}")
            reporter.message(f"{item.item}: {stage} failed: {detail}")
            continue
        end("completed", detail=detail)
        result.done[stage] += 1
    _context(reporter, None)


def _run_sweep_stage(study, store, records, items, result, reporter) -> None:
    from memtool.sweep import run_sweep

    if study.engine == "ray":  # one call: Ray spreads the models over the cluster
        left = [it for it in items if not records.done("sweep", it.item, it.digest)]
        if not left:
            result.skipped["sweep"] = len(items)
            return
        ray_options = dict(study.ray)
        if ray_options.get("results_dir"):
            ray_options["results_dir"] = Path(ray_options["results_dir"])
        for it in left:
            records.mark("sweep", it.item, it.digest, "running")
        swept = run_sweep(
            study.sweep_config([it.model for it in left]),
            store.path,
            command=f"memtool study run {study.path} (sweep)",
            reporter=reporter,
            engine="ray",
            ray_options=ray_options,
        )
        errors = {o.name: o.error for o in swept.models}
        for it in left:
            error = errors.get(it.model)
            records.mark("sweep", it.item, it.digest, "failed" if error else "completed", error=error)
            if error:
                result.failures.append(f"sweep {it.item}: {error}")
        result.done["sweep"] = sum(1 for it in left if not errors.get(it.model))
        return

    def work(item: Item):
        swept = run_sweep(
            study.sweep_config([item.model]),
            store.path,
            command=f"memtool study run {study.path} (sweep {item.model})",
            reporter=reporter,
        )
        m = swept.models[0]
        return {
            "model_id": m.model_id,
            "run_id": swept.run_id,
            "n_layers": m.n_layers,
            "n_scored": m.n_scored,
        }

    _each(study, records, items, result, reporter, work)


def _run_finetune_stage(study, store, records, items, result, reporter) -> None:
    from memtool.finetune.study import StudyConfig, run_study

    recipe = study.recipe_obj()

    def work(item: Item):
        done = run_study(
            StudyConfig(
                models=[item.model],
                data=study.data,
                splits=[item.split],
                folds=study.folds,
                limit=study.limit,
                recipe=recipe,
                device=study.device,
                workers=study.workers,
                out_dir=study.checkpoints,
                n_boot=study.n_boot,
                score_penultimate=False,
            ),
            store.path,
            command=f"memtool study run {study.path} (fine-tune {item.item})",
            reporter=reporter,
        )
        if done.failures:
            return done.failures[0].error
        r = done.results[0]
        return {
            "checkpoint": str(r.checkpoint),
            "finetune_id": r.finetune_id,
            "test_rho": r.test_rho,
            "finetuned_model_id": r.finetuned_model_id,
            "penultimate_layer": r.penultimate_layer,
        }

    _each(study, records, items, result, reporter, work)


def _run_penultimate_stage(study, store, records, items, result, reporter) -> None:
    from memtool.sweep import run_sweep

    finetuned = {(s, i): row for (s, i), row in records.rows().items() if s == "finetune"}

    def work(item: Item):
        row = finetuned.get(("finetune", item.item))
        if not row or row["status"] != "completed" or not (row.get("detail") or {}).get("checkpoint"):
            return "not fine-tuned (stage 2 did not complete for it)"
        checkpoint = row["detail"]["checkpoint"]
        splits = [item.split] if study.lamem else None
        ids = []
        for spec in (checkpoint, item.model):
            swept = run_sweep(
                study.sweep_config([spec], layers="penultimate", splits=splits),
                store.path,
                reporter=reporter,
                command=f"memtool study run {study.path} (penultimate layer of {spec})",
            )
            ids.append(swept.models[0].model_id)
        return {"finetuned_model_id": ids[0], "pretrained_model_id": ids[1]}

    _each(study, records, items, result, reporter, work)


def _run_baseline_stage(study, store, records, items, result, reporter) -> None:
    from memtool.finetune.data import load_split_dataset, split_parts
    from memtool.finetune.predict import evaluate, load_predictor
    from memtool.finetune.records import FinetuneRecords

    recipe = study.recipe_obj()
    batch = study.sweep.get("batch_size") or 32
    predictors: dict = {}

    def work(item: Item):
        if item.model not in predictors:
            predictors[item.model] = load_predictor(baseline=item.model)
        predictor = predictors[item.model]
        dataset = load_split_dataset(
            study.data, item.split, folds=study.folds, seed=study.seed, limit=study.limit
        )
        parts = split_parts(dataset, item.split, val_fraction=recipe.val_fraction, seed=study.seed)
        ev = evaluate(
            predictor,
            dataset,
            parts,
            "test",
            n_boot=study.n_boot,
            seed=study.seed,
            batch_size=batch,
            device=study.device,
            workers=study.workers,
            reporter=reporter,
        )
        FinetuneRecords(store).write_evaluation(
            {
                "predictor_id": ev.predictor_id,
                "predictor": ev.predictor,
                "dataset_id": ev.dataset_id,
                "dataset": ev.dataset,
                "split": ev.split,
                "part": ev.part,
                "n_images": ev.n_images,
                "rho": ev.rho,
                "ci_low": ev.ci[0],
                "ci_high": ev.ci[1],
                "n_boot": study.n_boot,
                "seconds": ev.seconds,
            }
        )
        return {
            "predictor_id": ev.predictor_id,
            "rho": ev.rho,
            "n_images": ev.n_images,
            "dataset_id": ev.dataset_id,
            "split": ev.split,
        }

    _each(study, records, items, result, reporter, work)


def _run_report_stage(study, store, records, items, result, reporter) -> None:
    from memtool.report import build_report

    def work(item: Item):
        built = build_report(store.path, study.report_dir)
        result.report = built.index
        return {"index": str(built.index), "figures": built.figures, "missing": built.missing}

    _each(study, records, items, result, reporter, work)
