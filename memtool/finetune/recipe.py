"""The fine-tuning recipe: loss, optimiser, schedule, augmentation and input size.

One recipe is used for every model, so that differences between fine-tuned models come
from the models and not from per-model tuning:

loss
    Mean squared error on *standardised* scores: the training split's mean and standard
    deviation turn scores into z-scores, so one learning rate suits data sets whose
    scores live on different scales (LaMem ~0.75 +- 0.12, LNSIM ~0.6 +- 0.14). When the
    best checkpoint is written, the standardisation is folded into the regression head
    (``w * std``, ``b * std + mean``), so a saved model outputs memorability scores.
optimiser
    AdamW, peak learning rate ``lr`` for the pretrained backbone and ``lr *
    head_lr_mult`` for the fresh regression head; weight decay ``weight_decay`` on
    weight matrices and convolution kernels only (not on biases or normalisation
    parameters); gradients clipped to a global norm of ``max_grad_norm``.
schedule
    Per optimiser step: linear warm-up from 1% of the peak over ``warmup_epochs``
    epochs, then a half-cosine decay to zero at the end of ``epochs``.
augmentation
    Training images: random resized crop (area ``crop_scale``, aspect ratio 3/4..4/3) to
    the input size, horizontal flip with probability 0.5, then the model's own
    normalisation. No colour jitter: colour is part of what makes an image memorable.
    Validation, test and prediction images: the model's own evaluation preprocessing
    (resize to ``size / crop_pct``, centre crop ``size``, normalise).
input size
    From the model's data config (timm's pretrained config, torchvision's weight
    preset); ``img_size`` overrides it (quick CPU runs), and the checkpoint records the
    size used.
early stopping
    On validation Spearman rho: training stops after ``patience`` epochs without a new
    best, and the best epoch's weights are kept. Sets without a published validation
    list (everything but LaMem) get a seeded ``val_fraction`` of the training split.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from memtool.errors import UsageError


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one fine-tuning run (see the module docstring)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    head_lr_mult: float = 10.0
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    max_grad_norm: float = 1.0
    patience: int = 3
    img_size: int | None = None
    crop_scale: tuple[float, float] = (0.6, 1.0)
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.batch_size >= 2, f"--batch-size must be at least 2, not {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, not {self.lr}"),
            (self.head_lr_mult > 0, f"the head's learning-rate multiplier must be positive, not {self.head_lr_mult}"),
            (self.weight_decay >= 0, f"weight decay must not be negative ({self.weight_decay})"),
            (self.warmup_epochs >= 0, f"warm-up must not be negative ({self.warmup_epochs} epochs)"),
            (self.max_grad_norm > 0, f"the gradient-norm clip must be positive, not {self.max_grad_norm}"),
            (self.patience >= 1, f"--patience must be at least 1, not {self.patience}"),
            (self.img_size is None or self.img_size >= 32,
             f"--img-size must be at least 32 pixels, not {self.img_size}"),
            (0 < self.crop_scale[0] <= self.crop_scale[1] <= 1,
             f"crop scale must be 0 < low <= high <= 1, not {self.crop_scale}"),
            (0 < self.val_fraction < 1, f"--val-fraction must lie between 0 and 1, not {self.val_fraction}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    def describe(self) -> dict:
        """The recipe as JSON-ready data: every number plus the fixed choices in words."""
        data = asdict(self)
        data["crop_scale"] = list(self.crop_scale)
        data["loss"] = "mse on training-split z-scores (folded into the head when saved)"
        data["optimizer"] = "AdamW; head lr = lr * head_lr_mult; no decay on biases and norms"
        data["schedule"] = "per step: linear warm-up from 1% over warmup_epochs, cosine to 0"
        data["augmentation"] = "random resized crop (crop_scale, ratio 3/4-4/3), hflip 0.5"
        data["early_stopping"] = "validation Spearman rho, patience epochs"
        return data

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """Learning-rate multiplier (of the peak) after ``step`` optimiser steps."""
        total = max(1, self.epochs * steps_per_epoch)
        warmup = int(round(self.warmup_epochs * steps_per_epoch))
        if step < warmup:
            return 0.01 + 0.99 * step / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def input_config(data_config: dict, img_size: int | None) -> dict:
    """The model's data config with its input size replaced by ``img_size`` when given."""
    config = dict(data_config)
    if img_size is not None:
        config["input_size"] = (3, int(img_size), int(img_size))
    config["input_size"] = tuple(int(v) for v in config["input_size"])
    return config


def eval_transform(data_config: dict):
    """Evaluation preprocessing from a data config: resize, centre crop, normalise."""
    from memtool.models.registry import transform_from_config

    return transform_from_config(data_config)


def train_transform(data_config: dict, recipe: Recipe):
    """Training augmentation (see the module docstring); randomness from torch's RNG."""
    from torchvision import transforms as T

    size = tuple(data_config["input_size"][1:])
    try:
        interpolation = T.InterpolationMode(str(data_config.get("interpolation", "bilinear")))
    except ValueError:
        interpolation = T.InterpolationMode.BILINEAR
    return T.Compose([
        T.RandomResizedCrop(size, scale=recipe.crop_scale, ratio=(3 / 4, 4 / 3),
                            interpolation=interpolation),
        T.RandomHorizontalFlip(0.5),
        T.ToTensor(),
        T.Normalize(mean=data_config["mean"], std=data_config["std"]),
    ])
