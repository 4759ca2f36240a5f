"""A study file (TOML) read into a :class:`Study` and validated whole before any work.

Layout (every key but ``models`` optional; see examples/study_demo.toml)::

    name = "demo"                 # the study's name in the store (default: the file's stem)
    models = ["resnet50", ...]    # and/or models_from = "models.txt" (relative to the file)
    baselines = ["resmem"]        # evaluated on the fine-tuned models' test images
    seed = 0                      # folds, validation carve, bootstrap, projections
    n_boot = 1000
    store = "study.duckdb"        # the results database (relative to the current folder)
    out = "study-out"             # checkpoints/ and report/ go here
    engine = "local"              # local | ray  (sweep stage)
    device = "auto"
    workers = 2                   # image-loading processes

    [data]      spec = "lamem:/data/lamem", splits = [1], folds = 5, limit = 1000
    [brain]     targets = ["IT", "V4"], features = "brainscore"; any other key K sets the
                sweep's ``brain_K`` option (features -> brain_features)
    [sweep]     any field of memtool.sweep.SweepConfig the study does not set itself
    [finetune]  any field of memtool.finetune.recipe.Recipe (seed excepted: top-level;
                head_features defaults to "penultimate", the paper's design)
    [ray]       address, results_dir, max_retries, cpus_per_task
    [plan]      calibration_batches, gpu_tflops, brain_seconds_per_layer

``[sweep]`` and ``[finetune]`` are checked against the dataclasses' fields when the file is
read, so options other code adds to SweepConfig or Recipe work here without a change, and
a key neither knows is reported by name. Every problem is collected and reported at once,
one line each, naming its key (``models[3]: unknown model 'resnet5O'``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memtool.errors import UsageError
from memtool.study.checks import (
    Problems,
    brain_problem,
    check_data_set,
    check_models,
    check_recipe,
    check_sweep_values,
    table,
    typed,
    unknown_keys,
    want,
)

ENGINES = ("local", "ray")
TOP_KEYS = {
    "name",
    "models",
    "models_from",
    "baselines",
    "seed",
    "n_boot",
    "store",
    "out",
    "engine",
    "device",
    "workers",
    "data",
    "brain",
    "sweep",
    "finetune",
    "ray",
    "plan",
}
DATA_KEYS = {"spec", "splits", "folds", "limit"}
RAY_KEYS = {"address": "str", "results_dir": "str", "max_retries": "int", "cpus_per_task": "float"}
PLAN_KEYS = {
    "calibration_batches": "int",
    "gpu_tflops": "float",
    "brain_seconds_per_layer": "float",
    "calibrate": "bool",
}
# SweepConfig fields the study sets from its own keys (and where).
SWEEP_OWNED = {
    "models": "models",
    "data": "data.spec",
    "splits": "data.splits",
    "folds": "data.folds",
    "limit": "data.limit",
    "seed": "seed",
    "n_boot": "n_boot",
    "device": "device",
    "workers": "workers",
    "brain": "brain.targets",
    "checkpoint": "models (one study file runs pretrained models)",
    "force": "the command line (memtool study run --force is not offered: remove "
    "rows or use memtool sweep --force)",
}
RECIPE_OWNED = {"seed": "seed"}
BASELINES = ("resmem",)


class StudyFileError(UsageError):
    """A study file with problems: ``problems`` holds one line per bad key."""

    def __init__(self, path: Path, problems: list[str]):
        n = len(problems)
        super().__init__(
            f"{path}: {n} problem{'s' * (n != 1)} in the study file; first: {problems[0]}",
            hint="fix every line listed and run again; nothing was run",
        )
        self.problems = problems


@dataclass
class Study:
    """A validated study file: what every stage needs, nothing loaded yet."""

    path: Path
    name: str
    models: list[str]  # canonical names (timm:resnet50, torchvision:alexnet, resmem)
    data: str = "demo"
    splits: list[int] = field(default_factory=lambda: [1])
    folds: int = 5
    limit: int | None = None
    seed: int = 0
    n_boot: int = 1000
    brain: list[str] = field(default_factory=list)
    sweep: dict = field(default_factory=dict)  # extra SweepConfig fields
    recipe: dict = field(default_factory=dict)  # Recipe fields
    baselines: list[str] = field(default_factory=list)
    store: Path = Path("memtool-study.duckdb")
    out: Path = Path("memtool-study")
    engine: str = "local"
    device: str = "auto"
    workers: int | None = None
    ray: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)

    # -- what the stages run with ------------------------------------------------------------
    @property
    def lamem(self) -> bool:
        return self.data.partition(":")[0].lower() == "lamem"

    def sweep_config(self, models: list[str], **overrides):
        """The SweepConfig of the sweep stage for ``models`` (the penultimate stage overrides)."""
        from memtool.sweep import SweepConfig

        options = dict(self.sweep)
        options.update(
            models=list(models),
            data=self.data,
            folds=self.folds,
            limit=self.limit,
            seed=self.seed,
            n_boot=self.n_boot,
            device=self.device,
            workers=self.workers,
            brain=list(self.brain),
            splits=list(self.splits) if self.lamem else None,
        )
        options.update(overrides)
        return SweepConfig(**options)

    def recipe_obj(self):
        from memtool.finetune.recipe import Recipe

        values = dict(self.recipe)
        # The study replicates the paper's design: the head reads the penultimate layer,
        # whose brain similarity it relates to accuracy (finetune.head_features overrides).
        values.setdefault("head_features", "penultimate")
        if "crop_scale" in values:
            values["crop_scale"] = tuple(values["crop_scale"])
        return Recipe(**{**values, "seed": self.seed})

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    @property
    def report_dir(self) -> Path:
        return self.out / "report"

    def digest(self, *parts: Any) -> str:
        blob = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def describe(self) -> dict:
        data = dataclasses.asdict(self)
        return json.loads(json.dumps(data, default=str))


def load_study(path: str | Path, *, check_data: bool = True) -> Study:
    """Read and validate the study file at ``path``; raises StudyFileError listing every problem.

    ``check_data``: also open the data set (every image listed, scores read). ``plan`` passes
    False for LaMem-sized sets that are not on this machine.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"study file {path} does not exist", hint="check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read study file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint="see examples/study_demo.toml") from None
    return parse_study(raw, path, check_data=check_data)


def parse_study(raw: dict, path: Path, *, check_data: bool = True) -> Study:
    from memtool.finetune.recipe import Recipe
    from memtool.sweep import SweepConfig

    p = Problems()
    unknown_keys(raw, TOP_KEYS, "", p)
    name = want(raw, "name", "str", p, default=path.stem) or path.stem
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        p.add("name", f"use letters, digits, '.', '_' or '-' only, not {name!r}")

    # models ----------------------------------------------------------------------------
    given: list[tuple[str, str]] = []  # (key, spec)
    models = want(raw, "models", "list[str]", p, default=[])
    given += [(f"models[{i}]", m) for i, m in enumerate(models)]
    models_from = want(raw, "models_from", "str", p)
    if models_from:
        file = (path.parent / models_from) if not Path(models_from).is_absolute() else Path(models_from)
        try:
            lines = file.read_text().splitlines()
        except OSError as exc:
            p.add("models_from", f"cannot read {file}: {exc.strerror}")
            lines = []
        for number, line in enumerate(lines, 1):
            spec = line.split("#", 1)[0].strip()
            if spec:
                given.append((f"models_from ({file.name} line {number})", spec))
    if not given and "models" not in raw and not models_from:
        p.add("models", "missing: name the models (models = [...] or models_from = FILE)")
    canonical = check_models(given, p)

    baselines = want(raw, "baselines", "list[str]", p, default=[])
    for i, b in enumerate(baselines):
        if b.lower() not in BASELINES:
            p.add(f"baselines[{i}]", f"unknown baseline {b!r} (known: {', '.join(BASELINES)})")

    seed = want(raw, "seed", "int", p, default=0)
    n_boot = want(raw, "n_boot", "int", p, default=1000)
    if n_boot is not None and n_boot < 10:
        p.add("n_boot", f"must be at least 10, not {n_boot}")
    engine = want(raw, "engine", "str", p, default="local")
    if engine not in ENGINES:
        p.add("engine", f"unknown engine {engine!r} (use local or ray)")
    device = want(raw, "device", "str", p, default="auto")
    if not (device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", device or "")):
        p.add("device", f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)")
    workers = want(raw, "workers", "int", p)
    if workers is not None and workers < 0:
        p.add("workers", f"must not be negative, not {workers}")
    store = want(raw, "store", "str", p, default=f"{name}.duckdb")
    out = want(raw, "out", "str", p, default=f"{name}-study")

    # data ------------------------------------------------------------------------------
    data_t = table(raw, "data", p)
    unknown_keys(data_t, DATA_KEYS, "data.", p)
    spec = want(data_t, "spec", "str", p, "data.", default="demo")
    splits = want(data_t, "splits", "list[int]", p, "data.", default=[1]) or [1]
    if len(set(splits)) != len(splits):
        p.add("data.splits", f"a split is named twice in {splits}")
    for i, s in enumerate(splits):
        if s < 1:
            p.add(f"data.splits[{i}]", f"splits count from 1, not {s}")
    folds = want(data_t, "folds", "int", p, "data.", default=5)
    if folds is not None and folds < 2:
        p.add("data.folds", f"must be at least 2, not {folds}")
    limit = want(data_t, "limit", "int", p, "data.")
    if limit is not None and limit < 10:
        p.add("data.limit", f"must be at least 10 images, not {limit}")
    if check_data and spec and not p.lines:
        check_data_set(spec, splits, folds, seed, limit, p)

    # brain -----------------------------------------------------------------------------
    sweep_fields = {f.name: f for f in dataclasses.fields(SweepConfig)}
    brain_t = table(raw, "brain", p)
    targets = want(brain_t, "targets", "list[str]", p, "brain.", default=[])
    for i, t in enumerate(targets):
        problem = brain_problem(t)
        if problem:
            p.add(f"brain.targets[{i}]", problem)
    if len(set(targets)) != len(targets):
        p.add("brain.targets", f"a target is named twice in {targets}")
    sweep_extra: dict = {}
    for key, value in brain_t.items():
        if key == "targets":
            continue
        fname = f"brain_{key}"
        if fname not in sweep_fields:
            known = sorted(k[len("brain_") :] for k in sweep_fields if k.startswith("brain_"))
            p.add(
                f"brain.{key}",
                f"this memtool's sweep has no {fname} option (brain keys it "
                f"knows: targets, {', '.join(known)})",
            )
            continue
        sweep_extra[fname] = typed(value, sweep_fields[fname], f"brain.{key}", p)

    # sweep -----------------------------------------------------------------------------
    sweep_t = table(raw, "sweep", p)
    for key, value in sweep_t.items():
        if key in SWEEP_OWNED:
            p.add(f"sweep.{key}", f"set by the study's {SWEEP_OWNED[key]}, not in [sweep]")
        elif key not in sweep_fields:
            unknown_keys({key: value}, set(sweep_fields) - set(SWEEP_OWNED), "sweep.", p)
        elif key.startswith("brain_") and key in sweep_extra:
            p.add(f"sweep.{key}", f"given twice: also brain.{key[len('brain_') :]}")
        else:
            sweep_extra[key] = typed(value, sweep_fields[key], f"sweep.{key}", p)
    check_sweep_values(sweep_extra, p)

    # finetune --------------------------------------------------------------------------
    recipe_fields = {f.name: f for f in dataclasses.fields(Recipe)}
    ft_t = table(raw, "finetune", p)
    recipe: dict = {}
    for key, value in ft_t.items():
        if key in RECIPE_OWNED:
            p.add(f"finetune.{key}", f"set by the study's top-level {RECIPE_OWNED[key]}, not in [finetune]")
        elif key not in recipe_fields:
            unknown_keys({key: value}, set(recipe_fields) - set(RECIPE_OWNED), "finetune.", p)
        else:
            recipe[key] = typed(value, recipe_fields[key], f"finetune.{key}", p)
    check_recipe(recipe, seed, p)

    # ray / plan ------------------------------------------------------------------------
    ray_t = table(raw, "ray", p)
    unknown_keys(ray_t, set(RAY_KEYS), "ray.", p)
    ray = {k: want(ray_t, k, t, p, "ray.") for k, t in RAY_KEYS.items() if k in ray_t}
    plan_t = table(raw, "plan", p)
    unknown_keys(plan_t, set(PLAN_KEYS), "plan.", p)
    plan = {k: want(plan_t, k, t, p, "plan.") for k, t in PLAN_KEYS.items() if k in plan_t}
    for k in ("gpu_tflops", "brain_seconds_per_layer", "calibration_batches"):
        if plan.get(k) is not None and plan[k] <= 0:
            p.add(f"plan.{k}", f"must be positive, not {plan[k]}")
    if engine == "ray" and targets:
        p.add("engine", 'brain targets are scored with the local engine only (use engine = "local")')

    if p.lines:
        raise StudyFileError(path, p.lines)
    return Study(
        path=path,
        name=name,
        models=canonical,
        data=spec,
        splits=list(splits),
        folds=folds,
        limit=limit,
        seed=seed,
        n_boot=n_boot,
        brain=list(targets),
        sweep=sweep_extra,
        recipe=recipe,
        baselines=[b.lower() for b in baselines],
        store=Path(store),
        out=Path(out),
        engine=engine,
        device=device,
        workers=workers,
        ray=ray,
        plan=plan,
    )
