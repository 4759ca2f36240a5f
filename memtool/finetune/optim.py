"""The optimiser of a fine-tuning run and its step.

AdamW over the recipe's parameter groups (early layers frozen, layer-wise learning rates
for the rest: :func:`memtool.finetune.heads.param_groups`), the recipe's warm-up and decay
applied per step, and on CUDA mixed precision (bfloat16 where the GPU has it, else
float16 with a gradient scaler). One :meth:`Optimisation.step` is: zero the gradients,
backward (scaled), clip the gradient norm, step, advance the schedule.
"""

from __future__ import annotations

import contextlib

import torch

from memtool.finetune.recipe import Recipe


class Optimisation:
    """AdamW, its schedule and the gradient scaler for ``module`` (already on ``device``)."""

    def __init__(
        self,
        module: torch.nn.Module,
        recipe: Recipe,
        head_name: str,
        steps_per_epoch: int,
        device: torch.device,
    ):
        from memtool.finetune.heads import apply_freeze, param_groups

        cuda = device.type == "cuda"
        self.amp_dtype = None
        if cuda:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.n_frozen = apply_freeze(module, recipe, head_name)
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.max_grad_norm = recipe.max_grad_norm
        self.optimizer = torch.optim.AdamW(
            param_groups(module, recipe, head_name), betas=(0.9, 0.999), **({"fused": True} if cuda else {})
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: recipe.lr_factor(step, steps_per_epoch)
        )

    def autocast(self):
        """The forward pass's precision: mixed on CUDA, full elsewhere."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()

    def backbone_lr(self) -> float:
        """The largest backbone learning rate now (the top layers'; the head's if all are frozen)."""
        groups = self.optimizer.param_groups
        rates = [g["lr"] for g in groups if not str(g.get("name", "")).startswith("head")]
        return max(rates) if rates else groups[0]["lr"]

    def state_dict(self) -> dict:
        """The ``optimizer``, ``scheduler`` and ``scaler`` entries of ``last.pt``."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``last.pt``'s entries (a scaler state only where this run keeps one)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
