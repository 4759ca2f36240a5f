"""Fitting a group of layers: one pass over the reference images, then a PCA per layer.

``plan_groups`` cuts the layers into groups whose whole footprint (every layer's 1000
reference activations, which become its components, its projected stimulus features and
the fit's working memory) fits the memory budget; ``group_components`` gets a group's
components from the on-disk cache or fits the missing ones in one forward pass, which
stops after the group's last layer (memtool.extract.tap.run_batches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from memtool.errors import UsageError
from memtool.extract.brainscore_pca.pca import Components, fit_pca, fit_working_bytes
from memtool.extract.brainscore_pca.reference import N_COMPONENTS, ReferenceSet
from memtool.extract.reducers import first_tensor


class _Capture:
    """Context manager: hooks write each layer's flattened output into device tensors."""

    def __init__(self, model: torch.nn.Module, layers: Sequence, n: int, device: torch.device):
        self.model = model
        self.layers = list(layers)
        self.buffers = {
            p.name: torch.empty(n, int(np.prod(p.output_shape)), dtype=torch.float32, device=device)
            for p in self.layers
        }
        self._rows = slice(0, 0)
        self._handles: list = []

    def set_rows(self, rows: slice) -> None:
        self._rows = rows

    def __enter__(self) -> "_Capture":
        modules = dict(self.model.named_modules())

        def hook_for(name):
            target = self.buffers[name]

            def hook(_module, _inputs, output):
                t = first_tensor(output).detach()
                target[self._rows] = t.reshape(t.shape[0], -1)

            return hook

        self._handles = [modules[p.name].register_forward_hook(hook_for(p.name)) for p in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def fit_components(
    model: torch.nn.Module,
    layers: Sequence,
    reference: ReferenceSet,
    transform: Callable,
    device: torch.device,
    *,
    batch_size: int = 32,
    workers: int = 0,
    n_components: int = N_COMPONENTS,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Components]:
    """Fit LayerPCA for ``layers`` (ProbedLayer) in one pass over the reference images."""
    from memtool.data.images import make_loader
    from memtool.extract.tap import run_batches

    fits: dict[str, Components] = {}
    big = [p for p in layers if p.n_features > n_components]
    for p in layers:
        if p.n_features <= n_components:
            fits[p.name] = Components(None, None, p.n_features)
    if big:
        with _Capture(model, big, len(reference.paths), device) as capture:
            run_batches(
                model,
                capture,
                make_loader(reference.paths, transform, batch_size, num_workers=workers),
                device,
                autocast=False,
                on_batch=on_batch,
            )
        for p in big:  # each buffer becomes its layer's components
            fits[p.name] = fit_pca(capture.buffers.pop(p.name), n_components)
    return fits


def group_components(
    model: torch.nn.Module,
    group: Sequence,
    reference: ReferenceSet,
    transform: Callable,
    device: torch.device,
    cache,
    *,
    batch_size: int = 32,
    workers: int = 0,
    start_task: Callable | None = None,
) -> dict[str, Components]:
    """The components of ``group``: from ``cache`` (a ComponentCache) where it holds them,
    the others fitted in one pass over the reference images and saved. ``start_task(k)``
    returns a progress task (``advance(n)``, ``close()``) for a fit of ``k`` layers.
    Nothing else keeps a reference to them, so they are freed with the returned dict."""
    fits: dict[str, Components] = {}
    for p in group:
        hit = cache.load(p.name, device)
        if hit is not None and hit.n_features == p.n_features:
            fits[p.name] = hit
    missing = [p for p in group if p.name not in fits]
    if missing:
        task = start_task(len(missing)) if start_task is not None else None
        fitted = fit_components(
            model,
            missing,
            reference,
            transform,
            device,
            batch_size=batch_size,
            workers=workers,
            on_batch=None if task is None else task.advance,
        )
        if task is not None:
            task.close()
        for name, fit in fitted.items():
            cache.save(name, fit)
        fits.update(fitted)
    return fits


def layer_bytes(p, n_reference: int, n_stimuli: int, n_components: int = N_COMPONENTS) -> int:
    """What one layer holds while its group is fitted and its stimuli extracted: the
    reference activations (float32, later its components) and the projected features."""
    d = p.n_features
    fit = n_reference * d * 4 if d > n_components else 0
    return fit + n_stimuli * min(d, n_components) * 4


def plan_groups(
    layers: Sequence, n_reference: int, n_stimuli: int, budget_bytes: int, n_components: int = N_COMPONENTS
) -> list[list]:
    """Layers (in execution order) grouped so that everything a group holds at once, its
    layers' ``layer_bytes`` and the working memory of one fit, fits ``budget_bytes``; so
    peak memory depends on the budget, not on the number of layers. A layer that cannot
    fit alone raises UsageError (exit 2) naming the budget it needs."""
    reserve = fit_working_bytes(n_reference)

    def size(p) -> int:
        return layer_bytes(p, n_reference, n_stimuli, n_components)

    too_big = [p for p in layers if size(p) + reserve > budget_bytes]
    if too_big:
        worst = max(too_big, key=size)
        need = (size(worst) + reserve) / 2**30
        raise UsageError(
            f"--memory-budget {budget_bytes / 2**30:.3g} GiB is too small for Brain-Score's PCA: "
            f"layer {worst.name} ({worst.n_features:,} features) alone needs {need:.3g} GiB "
            f"for its {n_reference} reference activations",
            hint=f"raise --memory-budget to at least {need:.3g} GiB, or leave such layers out with --layers",
        )
    return _consecutive_groups(layers, size, budget_bytes - reserve)


def _consecutive_groups(layers: Sequence, size: Callable, budget: int) -> list[list]:
    """Consecutive groups in execution order, each within ``budget``: the fewest groups,
    and of those the partition whose groups end earliest in the network in total. Each
    group costs two forward passes (reference images, stimuli) that stop after its last
    layer, so the late, expensive groups should hold as many layers as they can."""
    order = sorted(layers, key=lambda p: p.exec_order)
    best: list[tuple[int, int] | None] = [(0, 0)] + [None] * len(order)  # (groups, cost)
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        used = 0
        for first in range(end - 1, -1, -1):  # the last group is order[first:end]
            used += size(order[first])
            if used > budget and first < end - 1:
                break
            groups, cost = best[first]
            candidate = (groups + 1, cost + end - 1)
            if best[end] is None or candidate < best[end]:
                best[end], start[end] = candidate, first
    cuts, end = [], len(order)
    while end > 0:
        cuts.append(order[start[end] : end])
        end = start[end]
    return cuts[::-1]
