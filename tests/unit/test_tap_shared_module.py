"""A module called several times with different shapes (the ReLU a torchvision Bottleneck
shares) is captured at its last call, the one the probe recorded."""

from __future__ import annotations

import torch
import torchvision

from memtool.extract.reducers import make_reducer
from memtool.extract.tap import LayerTap, probe_layers, run_batches
from memtool.models.layers import enumerate_layers


def test_shared_relu_of_a_bottleneck_is_captured_at_its_last_call():
    torch.manual_seed(0)
    block = torchvision.models.resnet.Bottleneck(
        64,
        16,
        downsample=torch.nn.Sequential(torch.nn.Conv2d(64, 64, 1, bias=False), torch.nn.BatchNorm2d(64)),
    ).eval()
    layers = enumerate_layers(block, "all")
    x = torch.randn(4, 64, 8, 8)
    probed = {p.name: p for p in probe_layers(block, layers, x[:2])}
    relu = probed["relu"]
    assert relu.n_calls == 3 and relu.output_shape == (64, 8, 8)  # 16, 16, then 64 channels
    with LayerTap(block, [relu], make_reducer("pool"), len(x)) as tap:
        run_batches(block, tap, [(x, torch.arange(len(x)))], torch.device("cpu"), autocast=False)
    with torch.no_grad():
        expected = block(x).mean(dim=(2, 3))  # the block ends with relu(out + identity)
    got = tap.finalized()["relu"]
    assert got.shape == (4, 64)
    assert torch.allclose(torch.from_numpy(got), expected, atol=1e-5)
