"""Where a run stands between epochs: the epoch history and early stopping.

An epoch improves on the best when its validation rho is higher (a rho that is not finite,
from constant predictions, ranks below every real one). After ``patience`` epochs without
a gain the run stops, unless that was its last epoch anyway. The linear probe is epoch 0:
it sets the first best and never counts as an epoch without gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from memtool.finetune.runs import EpochStats

NO_SCORE = -2.0  # below every Spearman rho: where a constant prediction ranks


@dataclass
class Progress:
    epoch: int = 0
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int | None = None
    best_val: float = -math.inf
    bad_epochs: int = 0
    stopped: bool = False
    previous_seconds: float = 0.0  # what the run spent before it was resumed
    resumed_from: int | None = None

    def record(self, epoch: int, val_rho: float, *, patience: int, epochs: int) -> bool:
        """Count epoch ``epoch``'s validation rho; True when it is the best so far."""
        score = val_rho if _finite(val_rho) else NO_SCORE
        improved = score > self.best_val
        if improved:
            self.best_epoch, self.best_val, self.bad_epochs = epoch, score, 0
        elif epoch > 0:
            self.bad_epochs += 1
        self.epoch = epoch
        self.stopped = self.bad_epochs >= patience and epoch < epochs
        return improved

    @property
    def best_val_rho(self) -> float | None:
        """The best validation rho, None while no epoch had a real one."""
        return self.best_val if self.best_val > NO_SCORE else None

    def state(self) -> dict:
        """The entries of ``last.pt`` that :meth:`from_state` reads back."""
        return {
            "epoch": self.epoch,
            "history": [vars(e) for e in self.history],
            "best_epoch": self.best_epoch,
            "best_val": self.best_val,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
        }

    @classmethod
    def from_state(cls, state: dict) -> Progress:
        """The progress saved in ``last.pt``, resumed after its epoch."""
        epoch = int(state["epoch"])
        return cls(
            epoch=epoch,
            history=[EpochStats(**row) for row in state["history"]],
            best_epoch=state["best_epoch"],
            best_val=float(state["best_val"]),
            bad_epochs=int(state["bad_epochs"]),
            stopped=bool(state["stopped"]),
            previous_seconds=float(state["seconds"]),
            resumed_from=epoch,
        )


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
