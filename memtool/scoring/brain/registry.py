"""Brain-Score registry targets: benchmarks that brainscore-vision builds itself.

``IT``, ``V4``, ``V1``, ``V2``, ``behavior`` (``ALIASES``) or any identifier in
``brainscore_vision.benchmark_registry`` become a target with brainscore's own data
(Brain-Score storage, then the local cache in ``BRAINIO_HOME``), metric,
cross-validation and ceiling; only the PLS/ridge regression may be swapped for
memtool's equal fast one (``impl="fast"``).
"""

from __future__ import annotations

from memtool.brainscore_env import brainscore_version, import_brainscore, quiet
from memtool.errors import UsageError
from memtool.scoring.brain.guard import brainio_cache, brainscore_call
from memtool.scoring.brain.target import REGRESSIONS, BrainTarget, fast_regression, plain

# Short names for the standard public Brain-Score benchmarks.
ALIASES = {
    "V1": "FreemanZiemba2013public.V1-pls",
    "V2": "FreemanZiemba2013public.V2-pls",
    "V4": "MajajHong2015public.V4-pls",
    "IT": "MajajHong2015public.IT-pls",
    "behavior": "Rajalingham2018public-i2n",
    "behaviour": "Rajalingham2018public-i2n",
}
SPEC_HELP = (
    "IT, V4, V1, V2, behavior, a Brain-Score benchmark id (e.g. MajajHong2015public.IT-pls), "
    "a folder in memtool's neural format, cowley2023:DIR[:SESSION], "
    "kriegeskorte92:FILE[:monkey|human], demo-it or demo-hit"
)


def registry_target(identifier: str, *, impl: str = "fast", device=None) -> BrainTarget:
    """A benchmark from ``brainscore_vision.benchmark_registry``, built by brainscore-vision."""
    factory = registry_factory(identifier)
    with brainscore_call(
        identifier,
        f"benchmark {identifier} cannot be loaded",
        hint=f"check the Brain-Score cache {brainio_cache()} (BRAINIO_HOME)",
    ):
        benchmark = factory()
    regression_impl = None
    if hasattr(benchmark, "_similarity_metric"):
        benchmark._similarity_metric, regression_impl = fast_regression(
            benchmark._similarity_metric, impl, device
        )
    metric = identifier.rsplit("-", 1)[-1] if "-" in identifier else "brainscore"
    region = str(getattr(benchmark, "region", None) or getattr(benchmark, "parent", None) or "")
    target = BrainTarget(
        name=identifier,
        region=region,
        kind="registry",
        metric=metric,
        spec=identifier,
        benchmark=benchmark,
        citation=_bibtex_title(getattr(benchmark, "bibtex", None)),
        identity={
            "benchmark": identifier,
            "version": plain(getattr(benchmark, "version", None)),
            "brainscore_vision": brainscore_version(),
            # scores made before the fast path existed were brainscore's own (exact)
            **({"regression_impl": "fast"} if regression_impl == "fast" else {}),
        },
        ceiling_method="brainscore-vision benchmark ceiling",
        n_splits=10 if metric in REGRESSIONS else 0,
    )
    target.regression_impl = regression_impl
    if target.task is not None:
        target.region = "behavior"
    elif target.recorded_region:
        target.region = target.recorded_region
    if not target.region:
        target.region = identifier
    return target


def registry_factory(identifier: str):
    """The registry's factory for a benchmark id (importing its plugin when needed)."""
    bv = import_brainscore()
    factory = bv.benchmark_registry.get(identifier)
    if factory is None:
        from brainscore_core.plugin_management.import_plugin import import_plugin

        try:
            with quiet():
                import_plugin("brainscore_vision", "benchmarks", identifier)
        except AssertionError:
            raise UsageError(
                f"unknown brain target '{identifier}': no such Brain-Score benchmark",
                hint=f"use {SPEC_HELP}",
            ) from None
        factory = bv.benchmark_registry.get(identifier)
        if factory is None:
            raise UsageError(
                f"Brain-Score benchmark '{identifier}' did not register itself",
                hint="check the brainscore-vision installation",
            )
    return factory


def _bibtex_title(bibtex) -> str:
    if not isinstance(bibtex, str):
        return ""
    for key in ("title", "doi", "url"):
        for line in bibtex.splitlines():
            stripped = line.strip()
            if stripped.lower().startswith(key):
                return stripped.split("=", 1)[-1].strip(' ,{}"')
    return ""
