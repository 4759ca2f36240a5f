"""``--brain`` values to targets: Brain-Score registry ids and aliases, or local data."""

from __future__ import annotations

import os

from memtool.errors import UsageError
from memtool.scoring.brain.local import local_target
from memtool.scoring.brain.registry import ALIASES, SPEC_HELP, registry_factory, registry_target
from memtool.scoring.brain.target import REGRESSIONS, BrainTarget


def load_brain_targets(
    specs: list[str],
    *,
    seed: int = 0,
    regression: str = "pls",
    impl: str = "fast",
    device=None,
) -> list[BrainTarget]:
    """Turn ``--brain`` specs into targets (see SPEC_HELP); local data may give several.

    ``regression`` (pls | ridge) is the metric for local response data; registry
    benchmarks keep their own metric. ``seed`` sets the cross-validation splits of
    local response data. ``impl`` says who fits the regressions of PLS/ridge metrics:
    ``fast`` (memtool's torch reproduction, batched over the splits, on ``device``;
    ``memtool.scoring.brain_fast``) or ``exact`` (brainscore's scikit-learn metric,
    unchanged).
    """
    if regression not in REGRESSIONS:
        raise UsageError(f"unknown brain regression '{regression}'", hint="use pls or ridge")
    from memtool.scoring.brain_fast import IMPLS

    if impl not in IMPLS:
        raise UsageError(f"unknown brain regression implementation '{impl}'", hint="use fast or exact")
    targets: list[BrainTarget] = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            raise UsageError("empty --brain value", hint=SPEC_HELP)
        if _is_local(spec):
            from memtool.data.neural import load_neural

            for data in load_neural(spec):
                targets.append(local_target(data, seed=seed, regression=regression, impl=impl, device=device))
        else:
            targets.append(registry_target(ALIASES.get(spec, spec), impl=impl, device=device))
    names = [t.target_id for t in targets]
    if len(set(names)) != len(names):
        dup = next(t.name for t in targets if names.count(t.target_id) > 1)
        raise UsageError(f"brain target {dup} was given twice", hint="pass each --brain once")
    return targets


def is_local_spec(spec: str) -> bool:
    """Whether a --brain value names local data (a folder, cowley2023:, kriegeskorte92:,
    demo-it/demo-hit) rather than a Brain-Score registry benchmark."""
    return _is_local(spec.strip())


def _is_local(spec: str) -> bool:
    head = spec.partition(":")[0].lower()
    if spec in ("demo-it", "demo-hit") or head in (
        "cowley2023",
        "kriegeskorte92",
        "local",
    ):
        return True
    if spec in ALIASES:
        return False
    from memtool.data.neural import _split_select

    path, _ = _split_select(spec)
    return path.exists() or "/" in spec or os.sep in spec or spec.startswith(".")


def check_registry_specs(specs: list[str]) -> None:
    """Refuse unknown Brain-Score benchmark ids among ``--brain`` specs without building any
    benchmark (no data loaded), so the check can come before slower preparations."""
    for spec in specs:
        spec = spec.strip()
        if spec and not _is_local(spec):
            registry_factory(ALIASES.get(spec, spec))
