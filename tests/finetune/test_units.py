"""Pieces of fine-tuning that need no training: schedule, head folding, splits, files."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from memtool.errors import DataError, ModelError, UsageError, WeightsError
from memtool.finetune import checkpoint as ckpt
from memtool.finetune.data import ScoredImages, check_batch, load_split_dataset, split_parts
from memtool.finetune.heads import find_head, fold_scaling, param_groups
from memtool.finetune.recipe import Recipe, eval_transform, input_config
from memtool.finetune.train import make_finetune_id
from tests.unit._data_fixtures import make_jpeg


def test_schedule_warms_up_then_decays_to_zero():
    recipe = Recipe(epochs=4, warmup_epochs=1)
    steps = 10
    factors = [recipe.lr_factor(s, steps) for s in range(4 * steps + 1)]
    assert factors[0] == pytest.approx(0.01) and factors[steps] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:steps], factors[1 : steps + 1]))  # warm-up rises
    assert all(a >= b for a, b in zip(factors[steps:], factors[steps + 1 :]))  # cosine falls
    assert factors[-1] == pytest.approx(0.0, abs=1e-12)
    assert Recipe(epochs=2, warmup_epochs=0).lr_factor(0, 5) == pytest.approx(1.0)


def test_recipe_rejects_bad_values():
    with pytest.raises(UsageError, match="--lr"):
        Recipe(lr=0)
    with pytest.raises(UsageError, match="--img-size"):
        Recipe(img_size=8)


def test_recipe_identity_changes_with_every_choice():
    base = make_finetune_id("timm:a", "d", "fold1", Recipe(), False)
    assert base == make_finetune_id("timm:a", "d", "fold1", Recipe(), False)
    others = {
        make_finetune_id("timm:b", "d", "fold1", Recipe(), False),
        make_finetune_id("timm:a", "e", "fold1", Recipe(), False),
        make_finetune_id("timm:a", "d", "fold2", Recipe(), False),
        make_finetune_id("timm:a", "d", "fold1", Recipe(epochs=11), False),
        make_finetune_id("timm:a", "d", "fold1", Recipe(), True),
    }
    assert base not in others and len(others) == 5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU())
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        return self.fc(self.body(x))


def test_folding_the_scaling_turns_z_scores_into_scores():
    torch.manual_seed(0)
    net, x = Net(), torch.randn(5, 4)
    name, head = find_head(net)
    assert name == "fc" and head is net.fc
    z = net(x)
    net.load_state_dict(fold_scaling(net.state_dict(), name, mean=0.7, std=0.12))
    torch.testing.assert_close(net(x), z * 0.12 + 0.7)


def test_param_groups_separate_head_and_decay():
    groups = {
        g["name"]: g
        for g in param_groups(
            Net(), Recipe(lr=1e-4, head_lr_mult=10, weight_decay=0.05, layer_decay=1.0), "fc"
        )
    }
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert groups["head"]["lr"] == pytest.approx(1e-3) and groups["backbone"]["lr"] == pytest.approx(1e-4)
    assert groups["backbone_no_decay"]["weight_decay"] == 0 and groups["backbone"]["weight_decay"] == 0.05
    assert all(p.ndim >= 2 for p in groups["backbone"]["params"])
    assert all(p.ndim == 1 for p in groups["backbone_no_decay"]["params"])


def test_head_with_many_outputs_is_refused():
    net = Net()
    net.fc = nn.Linear(8, 3)
    with pytest.raises(ModelError, match="3 outputs"):
        find_head(net, "net")


def test_kfold_validation_carve_is_seeded_and_disjoint():
    dataset = load_split_dataset("demo", 2, folds=5, seed=3, limit=60)
    a = split_parts(dataset, 2, val_fraction=0.2, seed=3)
    b = split_parts(dataset, 2, val_fraction=0.2, seed=3)
    c = split_parts(dataset, 2, val_fraction=0.2, seed=4)
    assert np.array_equal(a.val, b.val) and not np.array_equal(a.val, c.val)
    original = dataset.splits[1]
    assert sorted([*a.train, *a.val]) == sorted(original.train.tolist())
    assert not set(a.val) & set(a.train) and not set(a.test) & (set(a.train) | set(a.val))
    assert np.array_equal(a.test, original.test) and len(a.val) == round(0.2 * len(original.train))
    assert a.name == "fold2" and a.val_source == "carved: 0.2 of train, seed 3"


def _lamem(root, n=16):
    names = [f"{i:08d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        make_jpeg(root / "images" / name, seed=i)
    (root / "splits").mkdir(parents=True)
    parts = {"test": names[:4], "val": names[4:8], "train": names[8:]}
    for split in (1, 2):
        for part, members in parts.items():
            (root / "splits" / f"{part}_{split}.txt").write_text(
                "".join(f"{m} {0.5 + 0.01 * names.index(m)}\n" for m in members)
            )


def test_lamem_uses_its_published_validation_list(tmp_path):
    _lamem(tmp_path)
    dataset = load_split_dataset(f"lamem:{tmp_path}", 2, folds=5, seed=0, limit=None)
    assert [sp.name for sp in dataset.splits] == ["split2"]  # as `sweep --split 2` loads it
    parts = split_parts(dataset, 2, val_fraction=0.1, seed=0)
    assert parts.val_source == "published" and len(parts.val) == 4 and len(parts.train) == 8
    with pytest.raises(UsageError, match="split 3"):
        load_split_dataset(f"lamem:{tmp_path}", 3, folds=5, seed=0, limit=None)


def test_unreadable_image_surfaces_from_the_batch(tmp_path):
    good = make_jpeg(tmp_path / "a.jpg")
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"nope")
    images = ScoredImages(
        [good, bad],
        [0.0, 1.0],
        eval_transform(
            input_config(
                {
                    "input_size": (3, 40, 40),
                    "mean": (0.5,) * 3,
                    "std": (0.5,) * 3,
                    "interpolation": "bilinear",
                    "crop_pct": 0.9,
                },
                32,
            )
        ),
        (3, 32, 32),
    )
    loader = torch.utils.data.DataLoader(images, batch_size=2)
    batch, targets, index, errors = next(iter(loader))
    assert batch.shape == (2, 3, 32, 32) and errors[0] == ""
    with pytest.raises(DataError, match="cannot read image .*b.jpg"):
        check_batch(errors)


def test_rng_state_round_trip(tmp_path):
    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    state = ckpt.rng_state()
    ckpt.atomic_save({"rng": state}, tmp_path / "s.pt")
    expected = (torch.rand(3), random.random(), np.random.rand())
    ckpt.set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_training_state_of_another_run_is_refused(tmp_path):
    ckpt.save_state(tmp_path / "last.pt", {"finetune_id": "aaa", "model": "timm:x", "epoch": 1})
    with pytest.raises(WeightsError, match="belongs to timm:x"):
        ckpt.read_state(tmp_path / "last.pt", finetune_id="bbb", model_name="timm:x")
    (tmp_path / "last.pt").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="cannot read training state"):
        ckpt.read_state(tmp_path / "last.pt", finetune_id="aaa", model_name="timm:x")
    assert not list(tmp_path.glob("*.tmp"))  # writes go through a renamed temporary file
