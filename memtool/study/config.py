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
    [finetune]  any field of memtool.finetune.recipe.Recipe (seed excepted: top-level)
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

from memtool.errors import MemtoolError, UsageError

ENGINES = ("local", "ray")
TOP_KEYS = {"name", "models", "models_from", "baselines", "seed", "n_boot", "store", "out",
            "engine", "device", "workers", "data", "brain", "sweep", "finetune", "ray", "plan"}
DATA_KEYS = {"spec", "splits", "folds", "limit"}
RAY_KEYS = {"address": "str", "results_dir": "str", "max_retries": "int", "cpus_per_task": "float"}
PLAN_KEYS = {"calibration_batches": "int", "gpu_tflops": "float",
             "brain_seconds_per_layer": "float", "calibrate": "bool"}
# SweepConfig fields the study sets from its own keys (and where).
SWEEP_OWNED = {"models": "models", "data": "data.spec", "splits": "data.splits",
               "folds": "data.folds", "limit": "data.limit", "seed": "seed", "n_boot": "n_boot",
               "device": "device", "workers": "workers", "brain": "brain.targets",
               "checkpoint": "models (one study file runs pretrained models)",
               "force": "the command line (memtool study run --force is not offered: remove "
                        "rows or use memtool sweep --force)"}
RECIPE_OWNED = {"seed": "seed"}
BASELINES = ("resmem",)


class StudyFileError(UsageError):
    """A study file with problems: ``problems`` holds one line per bad key."""

    def __init__(self, path: Path, problems: list[str]):
        n = len(problems)
        super().__init__(f"{path}: {n} problem{'s' * (n != 1)} in the study file; first: {problems[0]}",
                         hint="fix every line listed and run again; nothing was run")
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
        options.update(models=list(models), data=self.data, folds=self.folds, limit=self.limit,
                       seed=self.seed, n_boot=self.n_boot, device=self.device,
                       workers=self.workers, brain=list(self.brain),
                       splits=list(self.splits) if self.lamem else None)
        options.update(overrides)
        return SweepConfig(**options)

    def recipe_obj(self):
        from memtool.finetune.recipe import Recipe

        values = dict(self.recipe)
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


# ---------------------------------------------------------------------- type checking


def _check_type(value: Any, annotation: str) -> bool:
    """Whether a TOML value fits a dataclass field annotation written as a string."""
    text = str(annotation).replace(" ", "")
    for alt in _split_top(text, "|"):
        if alt == "None":
            continue  # TOML has no null: a None default is left out, never written
        if _fits(value, alt):
            return True
    return False


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside square brackets (``a | list[b | c]``)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def _fits(value: Any, alt: str) -> bool:
    if alt in ("Any", "object"):
        return True
    if alt == "bool":
        return isinstance(value, bool)
    if alt == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if alt == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if alt == "str":
        return isinstance(value, str)
    if alt in ("Path", "pathlib.Path"):
        return isinstance(value, str)
    m = re.fullmatch(r"(list|tuple|List|Tuple)\[(.*)\]", alt)
    if m:
        if not isinstance(value, list):
            return False
        inner = _split_top(m.group(2), ",")
        if m.group(1).lower() == "tuple" and len(inner) > 1 and "..." not in inner:
            return len(value) == len(inner) and all(_check_type(v, t) for v, t in zip(value, inner))
        return all(_check_type(v, inner[0]) for v in value)
    if alt in ("dict", "Mapping") or alt.startswith("dict["):
        return isinstance(value, dict)
    return True  # an annotation this reader does not know: the dataclass itself will judge


def _kind(annotation: str) -> str:
    return str(annotation).replace(" ", "")


# --------------------------------------------------------------------------- reading


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{key}: {message}")


def _want(table: dict, key: str, kind: str, problems: _Problems, prefix: str = "", default=None):
    if key not in table:
        return default
    value = table[key]
    if not _check_type(value, kind):
        problems.add(prefix + key, f"expected {kind.replace('|None', '')}, got {_show(value)}")
        return default
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_keys(table: dict, known: set[str], prefix: str, problems: _Problems) -> None:
    import difflib

    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            problems.add(prefix + key, "unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""))


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

    p = _Problems()
    _unknown_keys(raw, TOP_KEYS, "", p)
    name = _want(raw, "name", "str", p, default=path.stem) or path.stem
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        p.add("name", f"use letters, digits, '.', '_' or '-' only, not {name!r}")

    # models ----------------------------------------------------------------------------
    given: list[tuple[str, str]] = []  # (key, spec)
    models = _want(raw, "models", "list[str]", p, default=[])
    given += [(f"models[{i}]", m) for i, m in enumerate(models)]
    models_from = _want(raw, "models_from", "str", p)
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
    canonical = _check_models(given, p)

    baselines = _want(raw, "baselines", "list[str]", p, default=[])
    for i, b in enumerate(baselines):
        if b.lower() not in BASELINES:
            p.add(f"baselines[{i}]", f"unknown baseline {b!r} (known: {', '.join(BASELINES)})")

    seed = _want(raw, "seed", "int", p, default=0)
    n_boot = _want(raw, "n_boot", "int", p, default=1000)
    if n_boot is not None and n_boot < 10:
        p.add("n_boot", f"must be at least 10, not {n_boot}")
    engine = _want(raw, "engine", "str", p, default="local")
    if engine not in ENGINES:
        p.add("engine", f"unknown engine {engine!r} (use local or ray)")
    device = _want(raw, "device", "str", p, default="auto")
    if not (device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", device or "")):
        p.add("device", f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)")
    workers = _want(raw, "workers", "int", p)
    if workers is not None and workers < 0:
        p.add("workers", f"must not be negative, not {workers}")
    store = _want(raw, "store", "str", p, default=f"{name}.duckdb")
    out = _want(raw, "out", "str", p, default=f"{name}-study")

    # data ------------------------------------------------------------------------------
    data_t = _table(raw, "data", p)
    _unknown_keys(data_t, DATA_KEYS, "data.", p)
    spec = _want(data_t, "spec", "str", p, "data.", default="demo")
    splits = _want(data_t, "splits", "list[int]", p, "data.", default=[1]) or [1]
    if len(set(splits)) != len(splits):
        p.add("data.splits", f"a split is named twice in {splits}")
    for i, s in enumerate(splits):
        if s < 1:
            p.add(f"data.splits[{i}]", f"splits count from 1, not {s}")
    folds = _want(data_t, "folds", "int", p, "data.", default=5)
    if folds is not None and folds < 2:
        p.add("data.folds", f"must be at least 2, not {folds}")
    limit = _want(data_t, "limit", "int", p, "data.")
    if limit is not None and limit < 10:
        p.add("data.limit", f"must be at least 10 images, not {limit}")
    if check_data and spec and not p.lines:
        _check_data(spec, splits, folds, seed, limit, p)

    # brain -----------------------------------------------------------------------------
    sweep_fields = {f.name: f for f in dataclasses.fields(SweepConfig)}
    brain_t = _table(raw, "brain", p)
    targets = _want(brain_t, "targets", "list[str]", p, "brain.", default=[])
    for i, t in enumerate(targets):
        problem = _brain_problem(t)
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
            known = sorted(k[len("brain_"):] for k in sweep_fields if k.startswith("brain_"))
            p.add(f"brain.{key}", f"this memtool's sweep has no {fname} option (brain keys it "
                                  f"knows: targets, {', '.join(known)})")
            continue
        sweep_extra[fname] = _typed(value, sweep_fields[fname], f"brain.{key}", p)

    # sweep -----------------------------------------------------------------------------
    sweep_t = _table(raw, "sweep", p)
    for key, value in sweep_t.items():
        if key in SWEEP_OWNED:
            p.add(f"sweep.{key}", f"set by the study's {SWEEP_OWNED[key]}, not in [sweep]")
        elif key not in sweep_fields:
            _unknown_keys({key: value}, set(sweep_fields) - set(SWEEP_OWNED), "sweep.", p)
        elif key.startswith("brain_") and key in sweep_extra:
            p.add(f"sweep.{key}", f"given twice: also brain.{key[len('brain_'):]}")
        else:
            sweep_extra[key] = _typed(value, sweep_fields[key], f"sweep.{key}", p)
    _check_sweep_values(sweep_extra, p)

    # finetune --------------------------------------------------------------------------
    recipe_fields = {f.name: f for f in dataclasses.fields(Recipe)}
    ft_t = _table(raw, "finetune", p)
    recipe: dict = {}
    for key, value in ft_t.items():
        if key in RECIPE_OWNED:
            p.add(f"finetune.{key}", f"set by the study's top-level {RECIPE_OWNED[key]}, not in [finetune]")
        elif key not in recipe_fields:
            _unknown_keys({key: value}, set(recipe_fields) - set(RECIPE_OWNED), "finetune.", p)
        else:
            recipe[key] = _typed(value, recipe_fields[key], f"finetune.{key}", p)
    _check_recipe(recipe, seed, p)

    # ray / plan ------------------------------------------------------------------------
    ray_t = _table(raw, "ray", p)
    _unknown_keys(ray_t, set(RAY_KEYS), "ray.", p)
    ray = {k: _want(ray_t, k, t, p, "ray.") for k, t in RAY_KEYS.items() if k in ray_t}
    plan_t = _table(raw, "plan", p)
    _unknown_keys(plan_t, set(PLAN_KEYS), "plan.", p)
    plan = {k: _want(plan_t, k, t, p, "plan.") for k, t in PLAN_KEYS.items() if k in plan_t}
    for k in ("gpu_tflops", "brain_seconds_per_layer", "calibration_batches"):
        if plan.get(k) is not None and plan[k] <= 0:
            p.add(f"plan.{k}", f"must be positive, not {plan[k]}")
    if engine == "ray" and targets:
        p.add("engine", "brain targets are scored with the local engine only (use engine = \"local\")")

    if p.lines:
        raise StudyFileError(path, p.lines)
    return Study(path=path, name=name, models=canonical, data=spec, splits=list(splits),
                 folds=folds, limit=limit, seed=seed, n_boot=n_boot, brain=list(targets),
                 sweep=sweep_extra, recipe=recipe, baselines=[b.lower() for b in baselines],
                 store=Path(store), out=Path(out), engine=engine, device=device,
                 workers=workers, ray=ray, plan=plan)


def _table(raw: dict, key: str, p: _Problems) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        p.add(key, f"expected a table ([{key}]), got {_show(value)}")
        return {}
    return value


def _typed(value: Any, f: dataclasses.Field, key: str, p: _Problems):
    if not _check_type(value, f.type):
        p.add(key, f"expected {_kind(f.type).replace('|None', '')}, got {_show(value)}")
        return None
    return value


def _check_models(given: list[tuple[str, str]], p: _Problems) -> list[str]:
    from memtool.finetune.runs import canonical_model_name

    names: list[str] = []
    seen: dict[str, str] = {}
    for key, spec in given:
        try:
            name = canonical_model_name(spec)
        except MemtoolError as exc:
            p.add(key, exc.message.replace(" (not in timm or torchvision)", "")
                  + (f" ({exc.hint})" if exc.hint else ""))
            continue
        if name.startswith("checkpoint:"):
            p.add(key, f"{spec!r} is a checkpoint file: a study starts from pretrained models")
            continue
        if name in seen:
            p.add(key, f"{spec!r} is the same model as {seen[name]}")
            continue
        seen[name] = key
        names.append(name)
    return names


def _brain_problem(spec: str) -> str | None:
    from memtool.scoring.brain import ALIASES

    if not spec.strip():
        return "empty target"
    if spec in ALIASES or spec in ("demo-it", "demo-hit"):
        return None
    head, sep, rest = spec.partition(":")
    if sep and head.lower() in ("cowley2023", "kriegeskorte92", "local"):
        target = Path(rest.split(":")[0] if head.lower() != "local" else rest)
        return None if target.exists() else f"{target} does not exist"
    if "/" in spec or spec.startswith("."):
        return None if Path(spec).exists() else f"{spec} does not exist (a neural data folder)"
    if "." in spec or "-" in spec:
        return None  # a Brain-Score benchmark id; brainscore-vision resolves it at run time
    return f"unknown brain target {spec!r} (use IT, V4, V1, V2, behavior, a Brain-Score benchmark id or a folder)"


def _check_data(spec: str, splits, folds, seed, limit, p: _Problems) -> None:
    from memtool.data.memorability import load_memorability

    lamem = spec.partition(":")[0].lower() == "lamem"
    try:
        ds = load_memorability(spec, folds=folds, seed=seed, splits=splits if lamem else None,
                               limit=limit)
    except MemtoolError as exc:
        p.add("data.spec", exc.one_line())
        return
    if not lamem:
        for i, s in enumerate(splits):
            if s > folds:
                p.add(f"data.splits[{i}]", f"fold {s} of a {folds}-fold set does not exist")
    del ds


def _check_sweep_values(values: dict, p: _Problems) -> None:
    """Values that the sweep would only reject once it runs: reducer, layers, regression."""
    if values.get("reducer") is not None:
        from memtool.extract.reducers import make_reducer

        try:
            make_reducer(values["reducer"])
        except MemtoolError as exc:
            p.add("sweep.reducer", exc.one_line())
    if values.get("layers") is not None:
        layers = values["layers"]
        if layers not in ("all", "leaf", "blocks", "penultimate"):
            try:
                re.compile(layers)
            except re.error as exc:
                p.add("sweep.layers", f"not a regular expression: {exc}")
    for key, number in (("batch_size", 1), ("memory_budget_gb", 0), ("commit_every", 1)):
        v = values.get(key)
        if v is not None and v < number:
            p.add(f"sweep.{key}", f"must be at least {number}, not {v}")


def _check_recipe(values: dict, seed: int, p: _Problems) -> None:
    """Let Recipe judge each value on its own, so every bad one is named."""
    from memtool.finetune.recipe import Recipe

    for key, value in values.items():
        if value is None:
            continue
        try:
            Recipe(**{key: tuple(value) if key == "crop_scale" else value})
        except MemtoolError as exc:
            p.add(f"finetune.{key}", exc.message)
        except (TypeError, ValueError) as exc:
            p.add(f"finetune.{key}", str(exc))
    if not any(line.startswith("finetune.") for line in p.lines):
        try:
            Recipe(**{k: (tuple(v) if k == "crop_scale" else v) for k, v in values.items()}, seed=seed)
        except MemtoolError as exc:
            p.add("finetune", exc.message)
