"""The sweep's image path: uint8 in the loader, normalisation on the device, decoded once.

Real LNSIM JPEGs through the preprocessing of real model configurations: the split
pipeline must hand the network bitwise the same tensor as the full transform.
"""

from __future__ import annotations

import pytest
import torch

from memtool.data.images import DecodeCache, default_workers, make_loader, split_normalisation


@pytest.fixture(scope="module")
def jpegs(lnsim_dir):
    return sorted((lnsim_dir / "images").glob("*.jpg"))[:10]


def _pipelines():
    import timm
    from torchvision import transforms as T
    from torchvision.transforms._presets import ImageClassification

    return {
        "timm": timm.data.create_transform(
            input_size=(3, 160, 160), crop_pct=0.9, interpolation="bicubic", is_training=False
        ),
        "torchvision": ImageClassification(crop_size=64, resize_size=72),
        "no-normalise": T.Compose([T.Resize((80, 80)), T.CenterCrop(64), T.ToTensor()]),
    }


@pytest.mark.parametrize("name", ["timm", "torchvision", "no-normalise"])
def test_split_pipeline_gives_the_same_input(jpegs, name):
    transform = _pipelines()[name]
    loader_tf, on_device = split_normalisation(transform)
    assert on_device is not None
    full, _ = next(iter(make_loader(jpegs, transform, len(jpegs))))
    pixels, _ = next(iter(make_loader(jpegs, loader_tf, len(jpegs))))
    assert pixels.dtype == torch.uint8
    assert torch.equal(on_device(pixels), full)


def test_unknown_pipelines_are_left_alone():
    def fn(im):
        return torch.zeros(3, 2, 2)

    assert split_normalisation(fn) == (fn, None)


def test_decode_cache_serves_the_second_pass_from_memory(jpegs):
    loader_tf, _ = split_normalisation(_pipelines()["timm"])
    cache = DecodeCache(1 << 30)
    first = list(cache.batches(jpegs, loader_tf, 4))
    second = list(cache.batches(jpegs, loader_tf, 4))
    assert (cache.misses, cache.hits) == (1, 1)
    assert [len(b) for b, _ in first] == [len(b) for b, _ in second] == [4, 4, 2]
    for (a, ia), (b, ib) in zip(first, second):
        assert torch.equal(a, b) and torch.equal(ia, ib)
    # another preprocessing is another entry; a budget too small keeps nothing
    small = DecodeCache(10)
    list(small.batches(jpegs, loader_tf, 4))
    list(small.batches(jpegs, loader_tf, 4))
    assert (small.hits, small.used) == (0, 0)


def test_default_workers():
    assert default_workers("cuda", 16) == 8 and default_workers("cuda", 2) == 2
    assert default_workers("cpu", 2) == 0 and default_workers("cpu", 16) == 4


def test_workers_decode_the_same_images(jpegs):
    loader_tf, _ = split_normalisation(_pipelines()["timm"])
    a = torch.cat([b for b, _ in make_loader(jpegs, loader_tf, 3)])
    b = torch.cat([b for b, _ in make_loader(jpegs, loader_tf, 3, num_workers=2)])
    assert torch.equal(a, b)
