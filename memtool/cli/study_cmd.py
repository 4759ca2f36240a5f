"""`memtool study run | plan | status STUDY.toml`: the whole study from one file."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import console, err_console, user_errors

app = typer.Typer(
    help="Run, plan or check a whole study (sweep, fine-tune, penultimate layers, "
    "baselines, report) described by one TOML file; see examples/study_demo.toml.",
    no_args_is_help=True,
)

FILE_HELP = "the study file (TOML), e.g. examples/study_demo.toml"
DB_HELP = "results database; default: the file's `store` key"


def _load(path: Path, *, check_data: bool = True):
    from memtool.study.config import StudyFileError, load_study

    try:
        return load_study(path, check_data=check_data)
    except StudyFileError as exc:
        for line in exc.problems:
            err_console.print(f"[red]{path}:[/] {line}", highlight=False, soft_wrap=True, markup=True)
        raise


@app.command()
@user_errors
def run(
    study_file: Path = typer.Argument(..., help=FILE_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    stage: Optional[List[str]] = typer.Option(
        None,
        "--stage",
        help="run only this stage (repeatable): sweep | finetune | penultimate | baselines | report",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or progress lines"),
) -> None:
    """Run every stage of the study into one store; run it again to resume where it stopped."""
    from memtool.cli.progress import progress_reporter
    from memtool.errors import MemtoolError, UsageError
    from memtool.study.records import STAGES
    from memtool.study.stages import run_study_file

    for s in stage or []:
        if s not in STAGES:
            raise UsageError(f"unknown stage {s!r}", hint=f"use one of {', '.join(STAGES)}")
    study = _load(study_file)
    with progress_reporter(console, quiet) as reporter:
        result = run_study_file(study, db=db, reporter=reporter, stages=list(stage) if stage else None)
    done = ", ".join(
        f"{s} {result.done.get(s, 0)} run / {result.skipped.get(s, 0)} done before"
        for s in STAGES
        if s in result.done
    )
    console.print(f"study {study.name}: {done}; {result.seconds:.0f} s", highlight=False, soft_wrap=True)
    if result.report:
        console.print(
            f"report: [bold]{result.report}[/]; results: [bold]{result.db}[/]",
            highlight=False,
            soft_wrap=True,
        )
    if result.failures:
        for line in result.failures:
            err_console.print(f"[red]failed:[/] {line}", highlight=False, soft_wrap=True)
        raise MemtoolError(
            f"{len(result.failures)} item(s) of the study failed; first: {result.failures[0]}",
            hint="fix that and run the same command again (finished items are skipped)",
        )


@app.command()
@user_errors
def status(
    study_file: Path = typer.Argument(..., help=FILE_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Done / running / failed / left, per stage."""
    from memtool.cli.tables import result_table
    from memtool.study.status import study_status

    study = _load(study_file, check_data=False)
    stages = study_status(study, db)
    rows = [
        (
            f"{i} {s.stage}",
            s.state,
            f"{s.done}/{s.total}",
            len(s.running),
            len(s.failed) + len(s.interrupted),
            len(s.left),
            f"{s.seconds:.0f}",
        )
        for i, s in enumerate(stages, 1)
    ]
    console.print(
        result_table(
            ["stage", "state", "done", "running", "failed/stopped", "left", "seconds"],
            rows,
            title=f"study {study.name} ({db or study.store})",
            no_wrap=("stage", "state"),
        )
    )
    for s in stages:
        for item in s.running:
            console.print(f"running: {s.stage} {item}", highlight=False, soft_wrap=True)
        for item in s.interrupted:
            console.print(
                f"interrupted: {s.stage} {item} (run the study again to resume it)",
                highlight=False,
                soft_wrap=True,
            )
        for item in s.failed:
            console.print(f"[red]failed:[/] {s.stage} {item}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def plan(
    study_file: Path = typer.Argument(..., help=FILE_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP + " (where calibrations are cached)"),
    recalibrate: bool = typer.Option(
        False, "--recalibrate", help="measure again instead of using the cached calibration"
    ),
) -> None:
    """What will run and what it will cost: per stage and in total (hours, peak memory, disk).

    Throughput comes from a calibration pass over a few batches of each distinct model on
    this machine (cached in the store); models whose weights are not here are extrapolated
    from their FLOPs and parameter counts, and the plan says which.
    """
    from memtool.cli.tables import result_table
    from memtool.study.plan import make_plan

    study = _load(study_file, check_data=False)
    result = make_plan(
        study,
        db=db,
        recalibrate=recalibrate,
        log=lambda t: err_console.print(t, highlight=False, soft_wrap=True, markup=False),
    )
    console.print(
        f"study {study.name}: {len(study.models)} models on {study.data} "
        f"(splits {study.splits}), brain {', '.join(study.brain) or 'none'}, "
        f"device {result.device_label}",
        highlight=False,
        soft_wrap=True,
    )
    rows = [(s.stage, _hours(s.seconds), _gib(s.peak_bytes), _gib(s.disk_bytes)) for s in result.stages]
    rows.append(("total", _hours(result.total_seconds), _gib(result.peak_bytes), _gib(result.disk_bytes)))
    console.print(
        result_table(
            ["stage", f"{result.unit}-hours", "peak memory", "checkpoint disk"],
            rows,
            title="projected cost",
            no_wrap=("stage",),
        )
    )
    for s in result.stages:
        console.print(f"{s.title}: {s.work}; basis: {s.basis}", highlight=False, soft_wrap=True)
    for line in result.notes:
        console.print(f"note: {line}", highlight=False, soft_wrap=True)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}" if seconds < 360000 else f"{seconds / 3600:.0f}"


def _gib(n: float | None) -> str:
    if not n:
        return "-"
    return f"{n / 2**30:.1f} GiB" if n >= 2**27 else f"{n / 2**20:.0f} MiB"
