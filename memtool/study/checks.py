"""How each value of a study file is judged: types, keys, models, brain targets, options.

Every check adds one line per problem to a :class:`Problems` (naming the key, as
``models[3]: unknown model 'resnet5O'``) instead of raising, so that
:func:`memtool.study.config.parse_study` reports them all at once. Types are read from the
annotations of the dataclass fields a key sets (``SweepConfig``, ``Recipe``), so fields
other code adds are checked without a change here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from memtool.errors import MemtoolError


def check_type(value: Any, annotation: str) -> bool:
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
            return len(value) == len(inner) and all(check_type(v, t) for v, t in zip(value, inner))
        return all(check_type(v, inner[0]) for v in value)
    if alt in ("dict", "Mapping") or alt.startswith("dict["):
        return isinstance(value, dict)
    return True  # an annotation this reader does not know: the dataclass itself will judge


def _kind(annotation: str) -> str:
    return str(annotation).replace(" ", "")


class Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{key}: {message}")


def want(table: dict, key: str, kind: str, problems: Problems, prefix: str = "", default=None):
    if key not in table:
        return default
    value = table[key]
    if not check_type(value, kind):
        problems.add(prefix + key, f"expected {kind.replace('|None', '')}, got {show(value)}")
        return default
    return value


def show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def unknown_keys(table: dict, known: set[str], prefix: str, problems: Problems) -> None:
    import difflib

    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            problems.add(prefix + key, "unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""))


def table(raw: dict, key: str, p: Problems) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        p.add(key, f"expected a table ([{key}]), got {show(value)}")
        return {}
    return value


def typed(value: Any, f: dataclasses.Field, key: str, p: Problems):
    if not check_type(value, f.type):
        p.add(key, f"expected {_kind(f.type).replace('|None', '')}, got {show(value)}")
        return None
    return value


def check_models(given: list[tuple[str, str]], p: Problems) -> list[str]:
    from memtool.finetune.runs import canonical_model_name

    names: list[str] = []
    seen: dict[str, str] = {}
    for key, spec in given:
        try:
            name = canonical_model_name(spec)
        except MemtoolError as exc:
            p.add(
                key,
                exc.message.replace(" (not in timm or torchvision)", "")
                + (f" ({exc.hint})" if exc.hint else ""),
            )
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


def brain_problem(spec: str) -> str | None:
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


def check_data_set(spec: str, splits, folds, seed, limit, p: Problems) -> None:
    from memtool.data.memorability import load_memorability

    lamem = spec.partition(":")[0].lower() == "lamem"
    try:
        ds = load_memorability(spec, folds=folds, seed=seed, splits=splits if lamem else None, limit=limit)
    except MemtoolError as exc:
        p.add("data.spec", exc.one_line())
        return
    if not lamem:
        for i, s in enumerate(splits):
            if s > folds:
                p.add(f"data.splits[{i}]", f"fold {s} of a {folds}-fold set does not exist")
    del ds


def check_sweep_values(values: dict, p: Problems) -> None:
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


def check_recipe(values: dict, seed: int, p: Problems) -> None:
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
