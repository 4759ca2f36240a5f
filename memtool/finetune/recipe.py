"""The fine-tuning recipe: head, optimiser, schedule, augmentation, averaging, input size.

One recipe is used for every model, so that differences between fine-tuned models come
from the models and not from per-model tuning. The defaults were chosen by measurement on
LNSIM (``benchmarks/finetune_quality.py``; the evidence is in ``docs/finetune.md``);
:data:`RECIPE_V1` is the recipe memtool used before, kept for comparison.

loss
    Mean squared error on *standardised* scores: the training split's mean and standard
    deviation turn scores into z-scores, so one learning rate suits data sets whose
    scores live on different scales (LaMem ~0.75 +- 0.12, LNSIM ~0.6 +- 0.14). When the
    best checkpoint is written, the standardisation is folded into the regression head
    (``w * std``, ``b * std + mean``), so a saved model outputs memorability scores.
head input (``head_features``)
    ``stages`` (default): the head reads the concatenated, spatially averaged outputs of
    the network's stages (:mod:`memtool.models.stage_head`; for EfficientNet-Lite0
    ``blocks.0``, ``blocks.1``, ``blocks.2``, ``blocks.4``, ``blocks.6``), and the layers
    after the deepest stage are frozen and never run; ``penultimate``: the network's own
    classifier input (the pooled last feature map), as in the study.
head (``head_init``)
    ``ridge`` (LP-FT): before any gradient step the head is set, in closed form, to the
    sweep's own ridge readout of the head's input features of the (unaugmented) training
    images: standardised features, penalty by exact leave-one-out error on train (or by
    validation rho where the split publishes a validation list). That linear probe is
    scored on the validation images as epoch 0, so early stopping can keep it when
    fine-tuning does not beat it. ``random``: a fresh, randomly initialised head.
optimiser
    AdamW, peak learning rate ``lr`` for the last layers of the backbone and ``lr *
    head_lr_mult`` for the head; layer-wise decay: a parameter at relative depth ``d``
    (its position among the backbone's parameter tensors, 0 first, 1 last) gets ``lr *
    layer_decay ** (9 - floor(10 d))``; parameters with ``d < freeze_fraction`` are
    frozen (no gradient, which also saves their backward pass). Weight decay
    ``weight_decay`` on weight matrices and convolution kernels only (not on biases or
    normalisation parameters); gradients clipped to a global norm of ``max_grad_norm``.
normalisation statistics (``bn``)
    ``frozen``: batch-norm layers keep their pretrained running statistics while
    training (they run in evaluation mode; their affine parameters still learn);
    ``train``: the statistics follow the training batches.
schedule
    Per optimiser step: linear warm-up from 1% of the peak over ``warmup_epochs``
    epochs, then a half-cosine decay to zero at the end of ``epochs``.
weight averaging (``ema_decay``)
    An exponential moving average of the weights after every step (decay
    ``min(ema_decay, (1 + step) / (10 + step))``); validation, early stopping, the saved
    checkpoint and the test use the averaged weights. 0 turns it off.
augmentation (``augment``)
    ``flip``: the evaluation view (resize to ``size / crop_pct``, centre crop), flipped
    horizontally with probability 0.5; ``shift``: the same with the crop moved by up to
    the evaluation margin in each direction, and the flip; ``rrc``: random resized crop
    (area ``crop_scale``, aspect ratio 3/4..4/3) and the flip. Then the model's own
    normalisation. No colour jitter: colour is part of what makes an image memorable.
    Validation, test and prediction images: the model's own evaluation preprocessing.
test-time augmentation (``tta_flip``)
    Validation, test and ``memtool predict`` scores are the mean of the image's and its
    mirror image's outputs.
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


HEAD_INITS = ("ridge", "random")
HEAD_FEATURES = ("stages", "penultimate")
BN_MODES = ("frozen", "train")
AUGMENTS = ("flip", "shift", "rrc")


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one fine-tuning run (see the module docstring).

    Every field has a default, so code written against an older Recipe keeps working;
    the defaults are the measured recipe (``docs/finetune.md``).
    """

    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-5
    head_lr_mult: float = 1.0
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    max_grad_norm: float = 1.0
    patience: int = 3
    img_size: int | None = None
    crop_scale: tuple[float, float] = (0.6, 1.0)
    val_fraction: float = 0.1
    seed: int = 0
    head_init: str = "ridge"
    layer_decay: float = 0.8
    freeze_fraction: float = 0.3
    bn: str = "frozen"
    ema_decay: float = 0.99
    augment: str = "flip"
    tta_flip: bool = True
    head_features: str = "stages"

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.batch_size >= 2, f"--batch-size must be at least 2, not {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, not {self.lr}"),
            (
                self.head_lr_mult > 0,
                f"the head's learning-rate multiplier must be positive, not {self.head_lr_mult}",
            ),
            (self.weight_decay >= 0, f"weight decay must not be negative ({self.weight_decay})"),
            (self.warmup_epochs >= 0, f"warm-up must not be negative ({self.warmup_epochs} epochs)"),
            (self.max_grad_norm > 0, f"the gradient-norm clip must be positive, not {self.max_grad_norm}"),
            (self.patience >= 1, f"--patience must be at least 1, not {self.patience}"),
            (
                self.img_size is None or self.img_size >= 32,
                f"--img-size must be at least 32 pixels, not {self.img_size}",
            ),
            (
                0 < self.crop_scale[0] <= self.crop_scale[1] <= 1,
                f"crop scale must be 0 < low <= high <= 1, not {self.crop_scale}",
            ),
            (0 < self.val_fraction < 1, f"--val-fraction must lie between 0 and 1, not {self.val_fraction}"),
            (
                self.head_init in HEAD_INITS,
                f"--head-init must be one of {', '.join(HEAD_INITS)}, not {self.head_init!r}",
            ),
            (
                self.head_features in HEAD_FEATURES,
                f"--head-features must be one of {', '.join(HEAD_FEATURES)}, not {self.head_features!r}",
            ),
            (0 < self.layer_decay <= 1, f"--layer-decay must lie in (0, 1], not {self.layer_decay}"),
            (0 <= self.freeze_fraction < 1, f"--freeze must lie in [0, 1), not {self.freeze_fraction}"),
            (self.bn in BN_MODES, f"--bn must be one of {', '.join(BN_MODES)}, not {self.bn!r}"),
            (0 <= self.ema_decay < 1, f"--ema must lie in [0, 1), not {self.ema_decay}"),
            (
                self.augment in AUGMENTS,
                f"--augment must be one of {', '.join(AUGMENTS)}, not {self.augment!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    def describe(self) -> dict:
        """The recipe as JSON-ready data: every number plus the fixed choices in words."""
        data = asdict(self)
        data["crop_scale"] = list(self.crop_scale)
        data["loss"] = "mse on training-split z-scores (folded into the head when saved)"
        features = {
            "stages": "the pooled outputs of every stage, concatenated",
            "penultimate": "the penultimate features",
        }[self.head_features]
        data["head"] = (
            f"ridge readout of {features} (LP-FT; epoch 0 is the probe)"
            if self.head_init == "ridge"
            else f"random init, on {features}"
        )
        data["optimizer"] = (
            "AdamW; head lr = lr * head_lr_mult; backbone lr * layer_decay^(9 - "
            "depth decile); no decay on biases and norms"
        )
        data["schedule"] = "per step: linear warm-up from 1% over warmup_epochs, cosine to 0"
        data["augmentation"] = {
            "flip": "eval view, hflip 0.5",
            "shift": "eval view shifted by up to the crop margin, hflip 0.5",
            "rrc": "random resized crop (crop_scale, ratio 3/4-4/3), hflip 0.5",
        }[self.augment]
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


# The recipe of memtool before the measured one (random head, backbone lr 1e-4 and head
# lr 1e-3, random resized crops, batch statistics, no averaging): kept so the benchmark and
# anyone reproducing older runs can ask for it.
RECIPE_V1 = dict(
    epochs=10,
    lr=1e-4,
    head_lr_mult=10.0,
    patience=3,
    head_init="random",
    layer_decay=1.0,
    freeze_fraction=0.0,
    bn="train",
    ema_decay=0.0,
    augment="rrc",
    tta_flip=False,
    head_features="penultimate",
)

# memtool's default before the stage head: the same recipe with the head on the
# penultimate features (the benchmark's "v2" row).
RECIPE_V2 = dict(head_features="penultimate")


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
    return T.Compose(
        [
            T.RandomResizedCrop(
                size, scale=recipe.crop_scale, ratio=(3 / 4, 4 / 3), interpolation=interpolation
            ),
            T.RandomHorizontalFlip(0.5),
            T.ToTensor(),
            T.Normalize(mean=data_config["mean"], std=data_config["std"]),
        ]
    )
