"""A real fine-tuning run (EfficientNet-Lite0, ImageNet weights, LNSIM images) end to end."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.finetune.checkpoint import BEST_FORMAT, read_best
from memtool.finetune.recipe import Recipe
from memtool.finetune.records import FinetuneRecords
from memtool.finetune.train import finetune_model
from memtool.models.registry import load_model
from memtool.store import Store
from tests.finetune.conftest import config

pytestmark = pytest.mark.slow  # shares one real fine-tuning run (~10 s alone, more on a busy CPU)
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_epoch_rows_land_in_the_store_while_training(trained):
    # When epoch k is announced its row (and those before it) are already committed;
    # epoch 0 is the linear probe the head starts from (LP-FT).
    assert [seen for _, seen in trained.watcher.seen] == [[0, 1], [0, 1, 2]]
    rows = FinetuneRecords(Store(trained.db)).epochs(trained.result.finetune_id)
    assert [r["epoch"] for r in rows] == [0, 1, 2] and rows[0]["lr"] == 0
    for row, stats in zip(rows, trained.result.epochs):
        assert row["train_loss"] == pytest.approx(stats.train_loss)
        assert row["val_rho"] == pytest.approx(stats.val_rho)
        assert math.isfinite(row["val_loss"]) and row["seconds"] > 0 and row["images_per_s"] > 0
    # Warm-up over epoch 1 reaches the peak lr; the cosine reaches 0 at the end of epoch 2.
    assert rows[1]["lr"] == pytest.approx(Recipe().lr) and rows[2]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_run_row_has_test_rho_ci_and_recipe(trained):
    r = trained.result
    assert r.status == "completed" and r.n_train == 27 and r.n_val == 9 and r.n_test == 12
    assert r.val_source == "carved: 0.25 of train, seed 0"
    _, rows = Store(trained.db).query(
        "SELECT status, best_epoch, test_rho, test_ci_low, test_ci_high, recipe->>'optimizer', "
        "recipe->>'img_size', checkpoint, penultimate_layer, epochs_done FROM finetune_runs"
    )
    status, best, rho, low, high, optimizer, size, checkpoint, penultimate, done = rows[0]
    assert status == "completed" and best == r.best_epoch and done == 2
    assert rho == pytest.approx(r.test_rho) and low <= rho <= high
    assert optimizer.startswith("AdamW") and size == "128"
    assert checkpoint == str(r.checkpoint.resolve()) and penultimate == "features"
    # The test evaluation also lands in evaluations, next to baselines on the same images.
    _, ev = Store(trained.db).query("SELECT predictor_id, split, part, n_images, rho FROM evaluations")
    assert ev == [(r.finetuned_model_id, "fold1", "test", 12, pytest.approx(r.test_rho))]


def test_best_checkpoint_is_a_memtool_checkpoint(trained):
    r = trained.result
    meta = read_best(r.checkpoint)
    assert meta["format"] == BEST_FORMAT and meta["model"] == "timm:tf_efficientnet_lite0"
    assert meta["num_classes"] == 1 and meta["epoch"] == r.best_epoch
    assert meta["val_rho"] == pytest.approx(r.best_val_rho)
    assert meta["data_config"]["input_size"] == [3, 128, 128]
    assert meta["recipe"]["epochs"] == 2 and meta["memtool_version"]
    assert meta["dataset"]["split"] == "fold1" and meta["dataset"]["limit"] == 48
    loaded = load_model(r.checkpoint)  # what `memtool sweep --model best.pt` does
    assert loaded.name == "timm:tf_efficientnet_lite0" and loaded.source == "checkpoint"
    assert f"{loaded.name}@{loaded.weights_id}" == r.finetuned_model_id
    assert loaded.module.get_classifier().out_features == 1


def test_predict_from_checkpoint_matches_the_in_memory_model(trained, tmp_path):
    r = trained.result
    out = tmp_path / "pred.csv"
    res = invoke("predict", *r.test_paths, "--checkpoint", r.checkpoint, "--out", out, "--device", "cpu")
    assert res.exit_code == 0, res.output
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert [row["image"] for row in rows] == [str(p) for p in r.test_paths]
    predicted = np.array([float(row["score"]) for row in rows])
    np.testing.assert_allclose(predicted, r.test_predictions, atol=2e-6)
    # Scores are on the memorability scale (standardisation folded into the head).
    assert 0.0 < predicted.mean() < 1.5
    # The in-memory module itself gives the same numbers for one image, from the evaluation
    # transform on the file (training used cached views of it): the mean of the image's and
    # its mirror image's outputs (the recipe's test-time flip averaging).
    from memtool.data.images import read_rgb
    from memtool.finetune.recipe import eval_transform

    x = eval_transform(r.data_config)(read_rgb(r.test_paths[0]))[None]
    with torch.no_grad():
        module = r.module.cpu().eval()
        both = 0.5 * (float(module(x)) + float(module(x.flip(-1))))
        assert both == pytest.approx(predicted[0], abs=2e-6)
        assert float(module(x)) != pytest.approx(predicted[0], abs=2e-6)


def test_predict_writes_the_store_table(trained, tmp_path):
    r = trained.result
    db = tmp_path / "p.duckdb"
    res = invoke("predict", *r.test_paths[:3], "-c", r.checkpoint, "--db", db, "--device", "cpu")
    assert res.exit_code == 0, res.output
    _, rows = Store(db).query("SELECT predictor_id, image, score FROM predictions ORDER BY image")
    assert len(rows) == 3 and {row[0] for row in rows} == {r.finetuned_model_id}
    expected = dict(zip(map(str, r.test_paths), r.test_predictions))
    for _, image, score in rows:
        assert score == pytest.approx(expected[image], abs=2e-6)


def test_evaluate_checkpoint_on_its_own_test_split(trained, tmp_path):
    db = tmp_path / "e.duckdb"
    res = invoke(
        "evaluate",
        "--checkpoint",
        trained.result.checkpoint,
        "--db",
        db,
        "--n-boot",
        "100",
        "--device",
        "cpu",
    )
    assert res.exit_code == 0, res.output
    _, rows = Store(db).query("SELECT dataset, split, part, n_images, rho FROM evaluations")
    assert rows == [("demo", "fold1", "test", 12, pytest.approx(trained.result.test_rho, abs=1e-9))]


def test_finished_run_is_skipped(trained):
    again = finetune_model(config(trained.out), trained.db)
    assert again.status == "skipped" and again.finetune_id == trained.result.finetune_id
    assert again.test_rho == pytest.approx(trained.result.test_rho)
    assert [e.epoch for e in again.epochs] == [0, 1, 2]  # 0: the linear probe


@pytest.mark.slow
def test_sweep_scores_the_checkpoints_penultimate_layer(trained):
    from memtool.sweep import SweepConfig, run_sweep

    swept = run_sweep(
        SweepConfig(
            models=[str(trained.result.checkpoint)],
            layers="penultimate",
            data="demo",
            limit=48,
            folds=4,
            n_boot=50,
            batch_size=16,
            device="cpu",
        ),
        trained.db,
    )
    assert swept.models[0].model_id == trained.result.finetuned_model_id
    _, rows = Store(trained.db).query(
        "SELECT penultimate_layer, penultimate_memorability FROM finetune_results"
    )
    assert rows[0][0] == "features" and rows[0][1] is not None


def test_study_command_scores_penultimate_layers_against_brain_data(trained):
    # The run is finished, so the study skips training and goes straight to the sweep of
    # the fine-tuned and the pretrained penultimate layer (demo: bundled monkey IT RDMs).
    from tests.finetune.conftest import CLI_ARGS

    res = invoke("finetune", *CLI_ARGS, "--db", trained.db, "--out", trained.out, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert "finished before" in res.output
    store = Store(trained.db)
    _, rows = store.query("SELECT IT, pretrained_IT, penultimate_memorability FROM finetune_results")
    assert all(v is not None for v in rows[0]), rows
    # The stage head's penultimate layer: the pooled stages, of the fine-tuned model and
    # of the pretrained model wrapped in the same stages.
    _, models = store.query(
        "SELECT DISTINCT model_id FROM layer_scores WHERE layer_name = 'features' AND target = 'IT'"
    )
    assert trained.result.finetuned_model_id in {m[0] for m in models} and len(models) == 2
    _, relation = store.query("SELECT region, finetuned_n, finetuned_rho FROM finetune_brain_relation")
    assert relation and all(n == 1 and rho is None for _, n, rho in relation)  # one model: no rho yet
