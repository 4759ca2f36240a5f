"""Capture many layers in one forward pass: hooks registered and removed as a context manager.

``probe_layers`` runs one small batch to learn, for each selected module, its output
shape, the order in which it runs, and whether its output is the very same tensor as an
earlier module's (a container returning its last child's output, an Identity): such
aliases are recorded, not captured or scored twice. An in-place activation changes its
input's values, so it is *not* an alias of the module before it (PyTorch's version
counter tells the two apart), and that module's hook reduces its output before the
activation overwrites it.

``LayerTap`` then captures every selected layer during ordinary forward passes, reducing
each output inside its hook, so memory grows with the reducer's output, not with the
layers' activations. A module called several times in one forward pass (a shared ReLU)
is recorded at its last call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from memtool.extract.reducers import Reducer, first_tensor


@dataclass
class ProbedLayer:
    name: str
    index: int
    module_type: str
    exec_order: int | None = None  # None: the module never ran in a forward pass
    output_shape: tuple[int, ...] | None = None  # per image
    alias_of: str | None = None
    n_calls: int = 0

    @property
    def n_features(self) -> int | None:
        return None if self.output_shape is None else int(np.prod(self.output_shape))

    @property
    def scorable(self) -> bool:
        return self.output_shape is not None and self.alias_of is None

    def shape_text(self) -> str | None:
        return None if self.output_shape is None else "x".join(map(str, self.output_shape))


def _named(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return dict(model.named_modules())


def probe_layers(model: torch.nn.Module, layers: Sequence, sample: torch.Tensor) -> list[ProbedLayer]:
    """Run ``sample`` once through ``model``; describe each layer in ``layers``.

    ``layers`` are objects with ``name``, ``index`` and ``module_type`` (LayerInfo).
    """
    modules = _named(model)
    probed = {l.name: ProbedLayer(l.name, l.index, l.module_type) for l in layers}
    keep_alive: list[torch.Tensor] = []  # so ids are not reused during the pass
    seen: dict[tuple[int, int], str] = {}
    order = [0]

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            t = first_tensor(output)
            info = probed[name]
            info.n_calls += 1
            if t is None or t.dim() == 0:
                return
            keep_alive.append(t)
            info.exec_order = order[0]
            order[0] += 1
            info.output_shape = tuple(int(s) for s in t.shape[1:])
            key = (id(t), t._version)
            earlier = seen.get(key)
            info.alias_of = earlier if earlier is not None and earlier != name else None
            if earlier is None:
                seen[key] = name

        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in probed]
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in handles:
            h.remove()
        keep_alive.clear()
    # Renumber execution order densely over the layers that ran.
    ran = sorted((p for p in probed.values() if p.exec_order is not None), key=lambda p: p.exec_order)
    for rank, p in enumerate(ran):
        p.exec_order = rank
    return [probed[l.name] for l in layers]


def relative_depths(probed: Sequence[ProbedLayer]) -> dict[str, float]:
    """exec_order / (n - 1) over the layers that ran: 0 is the first, 1 the last."""
    ran = [p for p in probed if p.exec_order is not None]
    span = max(len(ran) - 1, 1)
    return {p.name: p.exec_order / span for p in ran}


class LayerTap:
    """Context manager: while open, every forward pass fills ``features[name][rows]``.

    Call ``set_rows(slice)`` before each batch so each hook knows where its reduced batch
    goes. Feature matrices are preallocated float32 ``(n_images, k)`` arrays.
    """

    def __init__(
        self, model: torch.nn.Module, layers: Sequence[ProbedLayer], reducer: Reducer, n_images: int
    ):
        self.model = model
        self.layers = list(layers)
        self.reducer = reducer
        self.features = {
            p.name: np.zeros((n_images, reducer.stored_dim(p.output_shape)), dtype=np.float32)
            for p in self.layers
        }
        self._rows = slice(0, 0)
        self._handles: list = []

    def set_rows(self, rows: slice) -> None:
        self._rows = rows

    def _hook_for(self, name: str) -> Callable:
        target = self.features[name]
        shape = next(p.output_shape for p in self.layers if p.name == name)

        def hook(_module, _inputs, output):
            t = first_tensor(output)
            if tuple(t.shape[1:]) != shape:  # an earlier call of a module called several times
                return  # (ResNet's shared ReLU): its last call, the one probed, is recorded
            reduced = self.reducer.reduce(name, t.detach())
            target[self._rows] = reduced.float().cpu().numpy()

        return hook

    def __enter__(self) -> "LayerTap":
        modules = _named(self.model)
        self._handles = [modules[p.name].register_forward_hook(self._hook_for(p.name)) for p in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def finalized(self) -> dict[str, np.ndarray]:
        return {name: self.reducer.finalize(name, feats) for name, feats in self.features.items()}


def plan_passes(
    layers: Sequence[ProbedLayer], reducer: Reducer, n_images: int, budget_bytes: int
) -> list[list[ProbedLayer]]:
    """Group layers (in execution order) so that each group's features fit the budget.

    One group (one pass over the images) whenever everything fits. A layer whose
    features alone exceed the budget raises UsageError (exit 2): the budget cannot be
    kept, and giving each layer its own pass would slow the sweep down many times over
    without saying so.
    """
    from memtool.errors import UsageError

    def size(p: ProbedLayer) -> int:
        return n_images * reducer.stored_dim(p.output_shape) * 4

    for p in sorted(layers, key=lambda p: p.exec_order):
        if size(p) > budget_bytes:
            largest = max(size(q) for q in layers)
            raise UsageError(
                f"--memory-budget {budget_bytes / 2**30:.3g} GiB is too small: layer {p.name} alone "
                f"needs {size(p) / 2**30:.3g} GiB of features for {n_images} images",
                hint=f"raise it to at least {largest / 2**30:.3g} GiB (the largest layer), "
                "or use a smaller --reducer",
            )
    return group_by_size(layers, size, budget_bytes)


def group_by_size(layers: Sequence, size: Callable, budget_bytes: int) -> list[list]:
    """Layers in execution order, cut into consecutive groups whose ``size(layer)`` bytes
    add up to at most ``budget_bytes`` (a layer larger than the budget gets a group alone)."""
    groups: list[list] = [[]]
    used = 0
    for p in sorted(layers, key=lambda p: p.exec_order):
        if groups[-1] and used + size(p) > budget_bytes:
            groups.append([])
            used = 0
        groups[-1].append(p)
        used += size(p)
    return [g for g in groups if g]


class _StopForward(Exception):
    """Raised once the last tapped layer has run: the rest of the network is not needed."""


def _stop_after_last(model: torch.nn.Module, layers: Sequence):
    """A hook on the tapped layer that runs last that ends the forward pass there, or None
    when that layer runs several times per pass (or nothing is known of the order)."""
    ran = [p for p in layers if getattr(p, "exec_order", None) is not None]
    if not ran:
        return None
    last = max(ran, key=lambda p: p.exec_order)
    if last.n_calls != 1:
        return None

    def stop(_module, _inputs, _output):
        raise _StopForward

    return _named(model)[last.name].register_forward_hook(stop)


def run_batches(
    model: torch.nn.Module,
    tap: LayerTap,
    batches: Iterable,
    device: torch.device,
    autocast: bool,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Forward every batch ``(images, indices)`` with the tap open; indices are contiguous.

    The forward pass stops after the last of ``tap.layers`` (registered after the tap's
    hooks, so that layer is captured first): modules after it cannot change what is
    captured, and an early group of layers costs only the network up to it."""
    stop = _stop_after_last(model, tap.layers)
    try:
        with torch.no_grad():
            for images, index in batches:
                start = int(index[0])
                tap.set_rows(slice(start, start + len(index)))
                images = images.to(device, non_blocking=True)
                try:
                    if autocast:
                        with torch.autocast(device_type=device.type):
                            model(images)
                    else:
                        model(images)
                except _StopForward:
                    pass
                if on_batch is not None:
                    on_batch(len(index))
    finally:
        if stop is not None:
            stop.remove()
