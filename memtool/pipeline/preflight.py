"""Checks that run before a sweep does any work, so that it never fails halfway for a
reason it could have seen at the start.

``check_options`` refuses option values that make no sense (``--batch-size 0``,
``--workers -1``, ``--memory-budget 0``); ``check_models`` resolves every model spec,
reads every checkpoint, builds each architecture without weights (on PyTorch's meta
device when it can: no memory, no time) and applies the ``--layers`` selection to it,
then reports *all* the problems in one line, instead of stopping at model k after
models 1..k-1 have run.
"""

from __future__ import annotations

from memtool.errors import MemtoolError, ModelError, UsageError, WeightsError


class PreflightError(MemtoolError):
    """Several problems found before any work; exits with the first problem's code."""

    def __init__(self, problems: list[tuple[str, MemtoolError]]):
        self.problems = problems
        self.exit_code = problems[0][1].exit_code
        text = "; ".join(f"{spec}: {exc.one_line()}" for spec, exc in problems)
        super().__init__(
            f"{len(problems)} of the models cannot be swept, nothing was run: {text}",
            hint="fix them (or leave them out) and rerun",
        )


def check_options(config) -> None:
    """Option values checked before the data set or any model is loaded."""
    if config.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, not {config.batch_size}")
    if config.workers is not None and config.workers < 0:
        raise UsageError(
            f"--workers must be 0 or more, not {config.workers}", hint="0 loads images in the main process"
        )
    if not config.memory_budget_gb > 0:
        raise UsageError(
            f"--memory-budget must be a positive number of GiB, not {config.memory_budget_gb:g}",
            hint="the default is 4; a budget smaller than one layer's features is refused",
        )
    if config.n_boot < 0:
        raise UsageError(f"--n-boot must be 0 or more, not {config.n_boot}")
    if config.commit_every < 1:
        raise UsageError(f"commit_every must be at least 1, not {config.commit_every}")
    from memtool.extract.brainscore_pca import check_mode

    check_mode(config.brain_features)


def check_models(config) -> None:
    """Resolve every model, checkpoint and layer selection; raise once for all problems."""
    problems: list[tuple[str, MemtoolError]] = []
    for spec in config.models:
        try:
            check_model(spec, config.layers, checkpoint=config.checkpoint, random_init=config.random_init)
        except MemtoolError as exc:
            problems.append((spec, exc))
    if len(problems) == 1:
        raise problems[0][1]
    if problems:
        raise PreflightError(problems)


def check_model(spec: str, layers: str, *, checkpoint: str | None = None, random_init: bool = False) -> None:
    """Everything about one model that can be known without its weights; raises MemtoolError."""
    from memtool.models import weights as W
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import resolve_checkpoint

    source, arch, ckpt = resolve_checkpoint(spec, checkpoint, random_init, cli=True)
    module = skeleton(source, arch, ckpt.num_classes if ckpt is not None else None)
    if ckpt is not None and ckpt.head_stages:  # a fine-tuned model with a stage head
        from memtool.models.stage_head import rebuild

        module = rebuild(module, ckpt.head_stages, ckpt.state_dict)
    if ckpt is not None:
        problems = W.state_dict_problems(module.state_dict(), ckpt.state_dict)
        if problems:
            raise WeightsError(
                f"checkpoint {ckpt.path} does not fit {arch}: " + "; ".join(problems),
                hint="load it with the model it was saved from",
            )
    enumerate_layers(module, layers)


def skeleton(source: str, arch: str, num_classes: int | None = None):
    """The architecture without weights: on the meta device when it builds there, else on
    the CPU with random weights (some models compute values while they are built)."""
    import torch

    def build():
        if source == "timm":
            import timm

            return timm.create_model(
                arch, pretrained=False, **({} if num_classes is None else {"num_classes": num_classes})
            )
        import torchvision.models as tvm

        if source == "resmem":
            module = tvm.resnet152(weights=None)
            if num_classes is not None and num_classes != 1000:
                module.fc = torch.nn.Linear(module.fc.in_features, num_classes)
            return module
        return tvm.get_model(
            arch, weights=None, **({} if num_classes is None else {"num_classes": num_classes})
        )

    try:
        with torch.device("meta"):
            return build()
    except Exception:
        pass
    try:
        with torch.random.fork_rng(devices=[]):
            return build()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot build {arch}: {first}") from None
