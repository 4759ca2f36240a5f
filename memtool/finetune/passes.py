"""Passes of one module over a set of images on one device.

:meth:`Passes.train_epoch` trains for one epoch; :meth:`Passes.predict` returns the
module's outputs in eval mode, averaged with those of the mirrored images when the recipe
asks for flip test-time augmentation; :meth:`Passes.head_inputs` returns what the head
sees (the penultimate features the closed-form ridge head is fitted on). Each pass
reports its progress as one task of the run's reporter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memtool.finetune.data import check_batch, make_loader
from memtool.finetune.optim import Optimisation
from memtool.progress import Reporter


@dataclass
class Passes:
    module: torch.nn.Module
    device: torch.device
    optim: Optimisation
    batch_size: int
    workers: int
    reporter: Reporter

    def _batches(self, loader):
        non_blocking = self.device.type == "cuda"
        for images, targets, index, errors in loader:
            check_batch(errors)
            images = images.to(self.device, non_blocking=non_blocking)
            if self.device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, targets.to(self.device, non_blocking=non_blocking), index

    def _ordered(self, dataset):
        """A loader over ``dataset`` in order (evaluation)."""
        return make_loader(
            dataset,
            batch_size=self.batch_size,
            shuffle=False,
            workers=self.workers,
            device=self.device,
            generator=torch.Generator().manual_seed(0),
        )

    def train_epoch(
        self,
        dataset,
        *,
        generator: torch.Generator,
        drop_last: bool,
        freeze_norm: bool,
        label: str,
        after_step,
    ) -> tuple[float, int]:
        """One pass over the training images; returns (mean loss, images seen).
        ``after_step()`` runs after every optimiser step (the moving average's update)."""
        loader = make_loader(
            dataset,
            batch_size=self.batch_size,
            shuffle=True,
            workers=self.workers,
            device=self.device,
            generator=generator,
            drop_last=drop_last,
        )
        self.module.train()
        if freeze_norm:
            from memtool.finetune.heads import freeze_norm_statistics

            freeze_norm_statistics(self.module)
        task = self.reporter.task(label, len(loader))
        total = torch.zeros((), device=self.device)
        seen = 0
        for images, targets, _ in self._batches(loader):
            with self.optim.autocast():
                out = self.module(images)
            loss = torch.nn.functional.mse_loss(out.float().reshape(-1), targets)
            self.optim.step(loss)
            after_step()
            total += loss.detach() * targets.shape[0]
            seen += targets.shape[0]
            task.advance()
        task.close()
        return float(total) / max(1, seen), seen

    @torch.inference_mode()
    def predict(self, dataset, label: str, *, tta_flip: bool) -> np.ndarray:
        """The module's outputs for every image of ``dataset``, in order (eval mode)."""
        loader = self._ordered(dataset)
        self.module.eval()
        task = self.reporter.task(label, len(loader))
        out = np.empty(len(dataset), dtype=np.float64)
        for images, _, index in self._batches(loader):
            with self.optim.autocast():
                pred = self.module(images).float()
                if tta_flip:
                    pred = 0.5 * (pred + self.module(images.flip(-1)).float())
            out[index.numpy()] = pred.reshape(-1).cpu().numpy()
            task.advance()
        task.close()
        return out

    @torch.inference_mode()
    def head_inputs(self, dataset, head: torch.nn.Module, label: str) -> np.ndarray:
        """The head's input for every image of ``dataset`` (eval mode, no flip)."""
        from memtool.finetune.heads import HeadInput

        loader = self._ordered(dataset)
        self.module.eval()
        task = self.reporter.task(label, len(loader))
        out = None
        with HeadInput(head) as captured:
            for images, _, index in self._batches(loader):
                with self.optim.autocast():
                    self.module(images)
                feats = captured.batches.pop()
                if out is None:
                    out = np.empty((len(dataset), feats.shape[1]), dtype=np.float32)
                out[index.numpy()] = feats.numpy()
                task.advance()
        task.close()
        return out
