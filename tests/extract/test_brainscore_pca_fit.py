"""The Brain-Score PCA fit of a group: one forward pass that stops after the group's last
layer, components equal to a fit of each layer alone, nothing kept after the group."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import torch
from PIL import Image

from memtool.extract import brainscore_pca as bp
from memtool.extract.tap import LayerTap, probe_layers, run_batches


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.mid = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3, stride=2))
        self.head = torch.nn.Conv2d(6, 8, 3)
        self.calls = {"head": 0}

    def forward(self, x):
        x = self.mid(self.stem(x))
        self.calls["head"] += 1
        return self.head(x)


class _Info:
    def __init__(self, name, index):
        self.name, self.index, self.module_type = name, index, "Conv2d"


def _probed(net):
    names = ["stem", "mid", "head"]
    return probe_layers(net, [_Info(n, i) for i, n in enumerate(names)], torch.zeros(1, 3, 16, 16))


def _batches(x, size=7):
    for s in range(0, len(x), size):
        yield x[s : s + size], torch.arange(s, min(len(x), s + size))


def _flatten(probed):
    """Brain-Score features of layers that pass unreduced: brainscore's flatten."""
    fits = {p.name: bp.Components(None, None, p.n_features) for p in probed}
    return bp.BrainscoreFeatures(fits, bp.ReferenceSet((), "none", "test"), n_components=10**6)


def test_a_pass_stops_after_the_last_tapped_layer_and_captures_the_same():
    net = _Net().eval()
    probed = _probed(net)
    x = torch.randn(20, 3, 16, 16)
    full = {}
    with LayerTap(net, probed, _flatten(probed), len(x)) as tap:
        net.calls["head"] = 0
        run_batches(net, tap, _batches(x), torch.device("cpu"), autocast=False)
        assert net.calls["head"] == 3  # the last tapped layer: the whole network runs
        full = {k: v.copy() for k, v in tap.features.items()}
    early = [p for p in probed if p.name in ("stem", "mid")]
    with LayerTap(net, early, _flatten(probed), len(x)) as tap:
        net.calls["head"] = 0
        run_batches(net, tap, _batches(x), torch.device("cpu"), autocast=False)
        assert net.calls["head"] == 0  # stopped after mid: head never ran
        for name in ("stem", "mid"):
            np.testing.assert_array_equal(tap.features[name], full[name])
    assert not net.head._forward_hooks and not net.mid._forward_hooks  # hooks removed
    net(x[:1])  # and the model runs whole again


def test_group_fit_equals_each_layer_alone_and_is_freed_with_its_dict(tmp_path):
    folder = tmp_path / "ref"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1000):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    reference = bp.resolve_reference_images(folder)
    transform = bp.brainscore_transform({"input_size": (3, 16, 16), "mean": (0.5,) * 3, "std": (0.25,) * 3})
    net = _Net().eval()
    probed = _probed(net)
    cache = bp.ComponentCache(None, "net", reference, {})  # no cache root: always fit
    group = bp.group_components(net, probed, reference, transform, torch.device("cpu"), cache, batch_size=100)
    assert group["stem"].vectors.shape == (1000, 4 * 16 * 16)
    assert group["mid"].vectors is None and group["mid"].out_dim == 6 * 7 * 7  # 294: unreduced
    alone = bp.fit_components(net, [probed[0]], reference, transform, torch.device("cpu"), batch_size=64)
    assert torch.equal(alone["stem"].mean, group["stem"].mean)
    np.testing.assert_allclose(
        alone["stem"].vectors.numpy(), group["stem"].vectors.numpy(), atol=1e-5
    )  # another batch size: the same components
    ref = weakref.ref(group["stem"].vectors)
    del group
    gc.collect()
    assert ref() is None  # nothing else holds a finished group's components
