"""Memorability scores for images from a fine-tuned checkpoint or the ResMem baseline.

:func:`load_predictor` returns a :class:`Predictor` for either

* a checkpoint: a memtool checkpoint (``best.pt`` from ``memtool finetune``: it names its
  model and carries the preprocessing it was trained with, and its recipe's test-time
  flip averaging is applied as in training), or a bare state dict together
  with the model it belongs to; the model must have one output (a regression head);
* ``resmem``: ResMem (Needell & Bainbridge, 2022), used exactly as its package ships it:
  ``resmem.ResMem(pretrained=True)`` on ``resmem.transformer`` (resize to 256x256,
  centre crop 227, no normalisation), output in [0, 1].

:func:`evaluate` scores the images of one part (test, val, train or all) of a split of a
memorability data set and reports Spearman's rho with a bootstrap CI, so fine-tuned
models and ResMem are compared on the same held-out images.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from memtool.data.base import IMAGE_SUFFIXES
from memtool.errors import DataError, ModelError, UsageError, WeightsError
from memtool.progress import NullReporter, Reporter

BASELINES = ("resmem",)


@dataclass
class Predictor:
    """A network that maps an RGB image to one memorability score."""

    name: str  # what the user named: the checkpoint's path or "resmem"
    predictor_id: str  # model_id of the checkpoint (name@weights_id) or resmem@VERSION
    module: torch.nn.Module
    transform: Callable
    input_size: tuple[int, int, int]
    autocast: bool = True  # bfloat16/float16 autocast on CUDA
    tta_flip: bool = False  # score = mean of the image's and its mirror image's outputs
    info: dict = field(default_factory=dict)  # what the checkpoint says about itself

    def predict(
        self,
        paths: Sequence[str | Path],
        *,
        batch_size: int = 32,
        device: str = "auto",
        workers: int | None = None,
        skip_bad: bool = False,
        reporter: Reporter | None = None,
    ) -> tuple[np.ndarray, list[tuple[Path, str]]]:
        """Scores for ``paths`` (NaN for skipped images) and the unreadable ``(path, reason)``s.

        An unreadable image raises DataError unless ``skip_bad``.
        """
        from memtool.finetune.data import ScoredImages, default_workers, make_loader
        from memtool.runtime import resolve_device

        if batch_size < 1:
            raise UsageError(f"--batch-size must be positive, not {batch_size}")
        reporter = reporter or NullReporter()
        dev = resolve_device(device)
        n_workers = default_workers(dev, workers)
        images = ScoredImages(paths, np.zeros(len(paths)), self.transform, self.input_size)
        loader = make_loader(
            images,
            batch_size=batch_size,
            shuffle=False,
            workers=n_workers,
            device=dev,
            generator=torch.Generator().manual_seed(0),
        )
        module = self.module.to(dev).eval()
        cuda = dev.type == "cuda"
        amp = (
            torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
            if cuda and self.autocast
            else contextlib.nullcontext()
        )
        out = np.full(len(images), np.nan)
        bad: list[tuple[Path, str]] = []
        task = reporter.task(f"predict ({self.name})", len(images))
        with torch.inference_mode():
            for batch, _, index, errors in loader:
                index = index.numpy()
                ok = np.array([not e for e in errors])
                for i, error in zip(index, errors):
                    if error:
                        message, _, hint = error.partition("\0")
                        if not skip_bad:
                            raise DataError(
                                message,
                                hint="remove or replace it, or pass --skip-bad to score the other images",
                            )
                        bad.append((images.paths[i], message))
                if ok.any():
                    batch = batch[torch.from_numpy(ok)].to(dev, non_blocking=cuda)
                    with amp:
                        pred = module(batch).float()
                        if self.tta_flip:
                            pred = 0.5 * (pred + module(batch.flip(-1)).float())
                    pred = pred.reshape(batch.shape[0], -1)
                    if pred.shape[1] != 1:
                        raise ModelError(
                            f"{self.name} gives {pred.shape[1]} outputs per image, not one score",
                            hint="use a checkpoint written by memtool finetune",
                        )
                    out[index[ok]] = pred[:, 0].cpu().numpy()
                task.advance(len(index))
        task.close()
        return out, bad


# ----------------------------------------------------------------------------- loading


def load_predictor(
    checkpoint: str | Path | None = None, baseline: str | None = None, model: str | None = None
) -> Predictor:
    """A predictor from a checkpoint file (optionally with its model) or a named baseline."""
    if (checkpoint is None) == (baseline is None):
        raise UsageError("give exactly one of --checkpoint FILE and --baseline resmem")
    if baseline is not None:
        if model is not None:
            raise UsageError("--model applies to --checkpoint, not to a baseline")
        if baseline.lower() != "resmem":
            raise UsageError(f"unknown baseline {baseline!r}", hint=f"known: {', '.join(BASELINES)}")
        return load_resmem()
    return load_checkpoint(checkpoint, model)


def load_checkpoint(path: str | Path, model: str | None = None) -> Predictor:
    """A memtool checkpoint (names its model), or any state dict plus ``model``."""
    from memtool.finetune.checkpoint import checkpoint_extras
    from memtool.finetune.heads import find_head
    from memtool.finetune.recipe import eval_transform
    from memtool.finetune.runs import canonical_model_name
    from memtool.models.registry import load_model
    from memtool.models.weights import read_checkpoint

    info = read_checkpoint(path)  # WeightsError for missing, corrupt or state-dict-less files
    if model is not None:
        wanted = canonical_model_name(model)
        if info.model_name and canonical_model_name(info.model_name) != wanted:
            raise WeightsError(
                f"checkpoint {info.path} holds {info.model_name}, not {wanted}",
                hint="drop --model (the checkpoint names its model) or give the checkpoint of that model",
            )
        loaded = load_model(model, checkpoint=info.path, num_classes=info.num_classes or 1)
    elif info.model_name:
        loaded = load_model(info.path)
    else:
        raise WeightsError(
            f"checkpoint {info.path} does not name its model",
            hint="pass the model it was saved from with --model NAME",
        )
    try:
        find_head(loaded.module, loaded.name)
    except ModelError as exc:
        raise ModelError(
            f"{info.path}: {exc.message}",
            hint="predict needs a one-output regression checkpoint, e.g. best.pt from memtool finetune",
        ) from None
    extras = checkpoint_extras(info.path)
    data_config = extras.get("data_config") or loaded.data_config
    recipe = extras.get("recipe") if isinstance(extras.get("recipe"), dict) else {}
    return Predictor(
        name=str(info.path),
        predictor_id=f"{loaded.name}@{loaded.weights_id}",
        module=loaded.module,
        transform=eval_transform(data_config),
        input_size=tuple(data_config["input_size"]),
        tta_flip=bool(recipe.get("tta_flip", False)),
        info={k: v for k, v in extras.items() if k != "state_dict"} | {"model": loaded.name},
    )


def load_resmem() -> Predictor:
    """ResMem from the ``resmem`` package, used as it ships (see the module docstring)."""
    import importlib.metadata

    try:
        import resmem
    except ImportError:
        raise WeightsError(
            "the ResMem baseline needs the resmem package",
            hint="pip install resmem (or pip install memtool[resmem])",
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's 'pretrained' deprecation notices
            module = resmem.ResMem(pretrained=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(
            f"cannot load ResMem's weights: {first}",
            hint="reinstall it: pip install --force-reinstall resmem",
        ) from None
    version = importlib.metadata.version("resmem")
    return Predictor(
        name="resmem",
        predictor_id=f"resmem@{version}",
        module=module.eval(),
        transform=resmem.transformer,
        input_size=(3, 227, 227),
        autocast=False,
        info={"model": "resmem", "version": version},
    )


# ------------------------------------------------------------------------------ images


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named in ``inputs``: files as given, folders searched recursively."""
    if not inputs:
        raise UsageError("no images given", hint="pass image files or folders")
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise DataError(
                    f"no image files in {path}", hint=f"images end in {', '.join(sorted(IMAGE_SUFFIXES))}"
                )
            found.extend(p.resolve() for p in inside)
        elif path.is_file():
            found.append(path.resolve())
        else:
            raise DataError(f"{path} does not exist", hint="check the path")
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------- evaluate


@dataclass
class Evaluation:
    predictor: str
    predictor_id: str
    dataset: str
    dataset_id: str
    split: str
    part: str
    n_images: int
    rho: float
    ci: tuple[float, float]
    seconds: float
    paths: list[Path]
    scores: np.ndarray  # human memorability of the images
    predictions: np.ndarray


def evaluate(
    predictor: Predictor,
    dataset,
    parts,
    part: str = "test",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 32,
    device: str = "auto",
    workers: int | None = None,
    reporter: Reporter | None = None,
) -> Evaluation:
    """Spearman's rho (and a bootstrap CI) of ``predictor`` on one part of a split."""
    from memtool.finetune.data import PARTS
    from memtool.scoring.stats import bootstrap_spearman_ci, spearman

    if part not in PARTS:
        raise UsageError(f"unknown part {part!r}", hint=f"use one of {', '.join(PARTS)}")
    idx = parts.part(part, len(dataset.items))
    paths = [dataset.paths[i] for i in idx]
    y = dataset.scores[idx]
    t0 = time.perf_counter()
    pred, _ = predictor.predict(
        paths, batch_size=batch_size, device=device, workers=workers, reporter=reporter
    )
    rho = spearman(pred, y)
    low, high = bootstrap_spearman_ci(pred, y, n_boot=n_boot, seed=seed)
    return Evaluation(
        predictor=predictor.name,
        predictor_id=predictor.predictor_id,
        dataset=dataset.name,
        dataset_id=dataset.fingerprint(),
        split=parts.name if part != "all" else "all",
        part=part,
        n_images=len(idx),
        rho=rho,
        ci=(low, high),
        seconds=round(time.perf_counter() - t0, 3),
        paths=paths,
        scores=y,
        predictions=pred,
    )
