"""Batches of a target's images, ready for the model on the sweep's device."""

from __future__ import annotations


def image_batches(ctx, paths, transform, workers: int):
    """Batches ``(images, indices)`` of ``paths`` ready for the model on ``ctx.device``.

    Decoding and resizing happen in the loader (``workers`` processes; pinned memory on
    CUDA); where the preprocessing allows it (memtool.data.images.split_normalisation)
    the loader stops at uint8 pixels, which ``ctx.decoded`` keeps for the next model or
    pass with the same preprocessing, and /255 + normalisation run on the device.
    """
    from memtool.data.images import DecodeCache, make_loader, split_normalisation

    device, batch_size = ctx.device, ctx.config.batch_size
    pin = device.type == "cuda"
    loader_transform, on_device = split_normalisation(transform)
    if on_device is None:
        yield from make_loader(paths, transform, batch_size, num_workers=workers, pin_memory=pin)
        return
    cache = ctx.decoded if ctx.decoded is not None else DecodeCache(0)
    for images, index in cache.batches(paths, loader_transform, batch_size, workers, pin):
        yield on_device(images.to(device, non_blocking=pin)), index
