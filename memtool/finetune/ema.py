"""The moving average of a run's weights, and swapping it in for evaluation.

With ``recipe.ema_decay > 0`` a run evaluates, checkpoints as best and tests the
exponential moving average of its weights, while training carries on with the live ones.
:class:`EvaluatedWeights` owns that swap: :meth:`EvaluatedWeights.evaluated` puts the
average into the module for a block and the live weights back afterwards, and
:meth:`EvaluatedWeights.training_state` is what ``last.pt`` keeps (the live weights, even
inside that block).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class WeightEMA:
    """Exponential moving average of a module's floating-point state (parameters and
    buffers); integer buffers are copied. Decay ``min(decay, (1 + n) / (10 + n))`` after
    the n-th update, so the average forgets the starting point quickly at first."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = float(decay)
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for key, value in module.state_dict().items():
            ema = self.state[key]
            if ema.is_floating_point():
                ema.lerp_(value.detach(), 1.0 - d)
            else:
                ema.copy_(value)

    def state_dict(self) -> dict:
        return {
            "decay": self.decay,
            "updates": self.updates,
            "state": {k: v.detach().cpu() for k, v in self.state.items()},
        }

    def load_state_dict(self, saved: dict) -> None:
        self.decay, self.updates = float(saved["decay"]), int(saved["updates"])
        for key, value in saved["state"].items():
            self.state[key].copy_(value)


class EvaluatedWeights:
    """The weights a run evaluates: its moving average when the recipe keeps one, else the
    module's own. :meth:`restart` begins a new average from the module's weights now."""

    def __init__(self, module: nn.Module, decay: float):
        self.module, self.decay = module, decay
        self.ema: WeightEMA | None = None  # made once the head is set (restart)
        self.live: dict | None = None  # the training weights while the averaged ones are evaluated

    def restart(self) -> None:
        self.ema = WeightEMA(self.module, self.decay) if self.decay > 0 else None

    def update(self) -> None:
        """After an optimiser step: fold the module's weights into the average."""
        if self.ema is not None:
            self.ema.update(self.module)

    def cpu_state(self) -> dict:
        """A detached CPU copy of the module's weights (never views of the live parameters)."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.module.state_dict().items()}

    def eval_state(self) -> dict:
        """A CPU copy of the weights that are evaluated: the moving average, when kept."""
        if self.ema is None:
            return self.cpu_state()
        return {k: v.detach().to("cpu", copy=True) for k, v in self.ema.state.items()}

    def training_state(self) -> dict:
        """The live training weights (not the average), on the CPU: what ``last.pt`` keeps."""
        if self.live is not None:
            return self.live
        return {k: v.detach().cpu() for k, v in self.module.state_dict().items()}

    def state_dict(self) -> dict | None:
        return self.ema.state_dict() if self.ema is not None else None

    def load_state_dict(self, saved: dict | None) -> None:
        if self.ema is not None:
            self.ema.load_state_dict(saved)

    @contextlib.contextmanager
    def evaluated(self):
        """Run the block with the evaluated weights in the module (the moving average when
        kept), and put the live training weights back afterwards."""
        if self.ema is None:
            yield
            return
        self.live = self.cpu_state()
        self.module.load_state_dict(self.ema.state)
        try:
            yield
        finally:
            self.module.load_state_dict(self.live)
            self.live = None
