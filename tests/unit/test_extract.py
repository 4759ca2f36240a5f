"""Layer capture against named_modules(), alias detection, reducers and pass planning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import timm
import torch
from torch import nn

from memtool.errors import UsageError
from memtool.extract.reducers import PCAReducer, PoolReducer, make_reducer
from memtool.extract.tap import LayerTap, plan_passes, probe_layers, relative_depths, run_batches


@dataclass
class L:
    name: str
    index: int
    module_type: str


def all_layers(model):
    return [L(n, i, type(m).__name__) for i, (n, m) in enumerate(model.named_modules()) if n]


def capture(model, layers, x, reducer):
    with LayerTap(model, layers, reducer, x.shape[0]) as tap:
        run_batches(model, tap, [(x, torch.arange(x.shape[0]))], torch.device("cpu"), False)
    return tap.finalized()


def reference_outputs(model, x):
    """Each module's output, cloned at hook time (ground truth, memory-hungry)."""
    outs, handles = {}, []
    for name, mod in model.named_modules():
        if name:
            handles.append(
                mod.register_forward_hook(
                    lambda m, i, o, name=name: outs.__setitem__(
                        name, (o[0] if isinstance(o, (tuple, list)) else o).detach().clone()
                    )
                )
            )
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return outs


@pytest.mark.parametrize("arch", ["test_resnet", "test_efficientnet", "test_vit"])
def test_every_named_module_is_probed_and_captured(arch):
    torch.manual_seed(0)
    model = timm.create_model(arch).eval()
    x = torch.randn(3, 3, 160, 160)
    layers = all_layers(model)
    probed = probe_layers(model, layers, x[:2])
    assert [p.name for p in probed] == [n for n, _ in model.named_modules() if n]
    ref = reference_outputs(model, x)
    scorable = [p for p in probed if p.scorable]
    feats = capture(model, scorable, x, PoolReducer())
    assert set(feats) == {p.name for p in scorable}
    for p in scorable:
        r = ref[p.name]
        if r.dim() == 4 and r.shape[1] == r.shape[2] != r.shape[3]:
            r = r.permute(0, 3, 1, 2)  # NHWC map
        expected = (
            r.float().mean(dim=1)
            if r.dim() == 3
            else (r.float().mean(dim=(2, 3)) if r.dim() == 4 else r.float().reshape(3, -1))
        )
        np.testing.assert_allclose(feats[p.name], expected.numpy(), rtol=1e-4, atol=1e-5, err_msg=p.name)
    # Aliases really are the same values as the layer they point to.
    for p in probed:
        if p.alias_of:
            torch.testing.assert_close(ref[p.name], ref[p.alias_of])


def test_inplace_activation_is_not_an_alias_and_keeps_pre_activation_values():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Identity(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ).eval()
    layers = all_layers(model)
    probed = {p.name: p for p in probe_layers(model, layers, torch.randn(2, 3, 8, 8))}
    assert probed["2"].alias_of is None  # ReLU changed the values in place
    assert probed["3"].alias_of == "2"  # Identity returns the same tensor
    x = torch.randn(4, 3, 8, 8)
    feats = capture(model, [p for p in probed.values() if p.scorable], x, PoolReducer())
    with torch.no_grad():
        bn = model[1](model[0](x))
    np.testing.assert_allclose(feats["1"], bn.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert (feats["1"] < 0).any()  # pre-activation values survived the in-place ReLU
    assert (feats["2"] >= 0).all()


def test_shared_module_called_twice_is_recorded_at_its_last_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.lin(self.act(x)))

    model = Twice().eval()
    probed = probe_layers(model, all_layers(model), torch.randn(2, 4))
    assert {p.name: p.n_calls for p in probed}["act"] == 2
    x = torch.randn(5, 4)
    feats = capture(model, probed, x, PoolReducer())
    with torch.no_grad():
        np.testing.assert_allclose(feats["act"], model(x).numpy(), rtol=1e-6)


def test_relative_depth_follows_execution_order():
    model = timm.create_model("test_resnet").eval()
    probed = probe_layers(model, all_layers(model), torch.randn(2, 3, 96, 96))
    depth = relative_depths(probed)
    assert depth["conv1.0"] == 0.0 and max(depth.values()) == 1.0
    assert depth["layer1.0.conv1"] < depth["layer2.0.conv1"] < depth["fc"]


def test_random_projection_preserves_geometry_and_is_deterministic():
    torch.manual_seed(1)
    x = torch.randn(40, 64, 16, 16)
    r1, r2 = make_reducer("rp:2048", seed=3), make_reducer("rp:2048", seed=3)
    a, b = r1.reduce("layer", x), r2.reduce("layer", x)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, make_reducer("rp:2048", seed=3).reduce("other", x))
    flat = x.flatten(1)
    norms = flat.norm(dim=1)
    # Johnson-Lindenstrauss: each inner product off by about |x_i||x_j| sqrt(2/k) at most.
    err = ((a @ a.T) - (flat @ flat.T)).abs() / torch.outer(norms, norms)
    assert err.max() < 6 * (2 / 2048) ** 0.5
    assert ((a.norm(dim=1) / norms) - 1).abs().max() < 0.1
    assert make_reducer("rp:100000").reduce("layer", x).shape == (40, 16384)  # small outputs kept


def test_pca_reducer_matches_numpy_pca_when_no_sketch_is_needed():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, 12)).astype(np.float32) @ rng.normal(size=(12, 12)).astype(np.float32)
    red = PCAReducer(4)
    out = red.finalize("l", feats)
    centred = feats - feats.mean(0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    proj = centred @ vt[:4].T
    np.testing.assert_allclose(np.abs(out), np.abs(proj), rtol=1e-4, atol=1e-4)
    assert out.shape == (30, 4)


@pytest.mark.parametrize("spec", ["pool:0", "rp", "pca:x", "median", "rp:-3"])
def test_bad_reducer_specs_are_usage_errors(spec):
    with pytest.raises(UsageError):
        make_reducer(spec)


def test_pass_planning_respects_the_budget():
    model = timm.create_model("test_resnet").eval()
    probed = [p for p in probe_layers(model, all_layers(model), torch.randn(2, 3, 96, 96)) if p.scorable]
    red = PoolReducer()
    one = plan_passes(probed, red, 100, budget_bytes=10**9)
    assert len(one) == 1 and len(one[0]) == len(probed)
    per_layer = [100 * red.stored_dim(p.output_shape) * 4 for p in probed]
    budget = max(per_layer) * 3
    many = plan_passes(probed, red, 100, budget_bytes=budget)
    assert len(many) > 1
    assert sorted(p.name for g in many for p in g) == sorted(p.name for p in probed)
    for g in many:
        assert sum(100 * red.stored_dim(p.output_shape) * 4 for p in g) <= budget
