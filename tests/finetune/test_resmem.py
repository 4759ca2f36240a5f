"""The ResMem baseline, from the resmem package as it ships, on real LNSIM images."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.data.memorability import demo_root
from memtool.store import Store

pytest.importorskip("resmem")
pytestmark = pytest.mark.slow  # ResMem is a 0.5 GB ResNet-152 + AlexNet-style network

runner = CliRunner()


def test_evaluate_and_predict_with_resmem(tmp_path):
    db = tmp_path / "r.duckdb"
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--baseline",
            "resmem",
            "--data",
            "demo",
            "--limit",
            "48",
            "--folds",
            "4",
            "--split",
            "1",
            "--n-boot",
            "100",
            "--db",
            str(db),
            "--device",
            "cpu",
            "--batch-size",
            "12",
        ],
    )
    assert res.exit_code == 0, res.output
    _, rows = Store(db).query(
        "SELECT predictor_id, dataset, split, part, n_images, rho, ci_low, ci_high FROM evaluations"
    )
    ((predictor, dataset, split, part, n, rho, low, high),) = rows
    assert predictor.startswith("resmem@") and (dataset, split, part, n) == ("demo", "fold1", "test", 12)
    assert math.isfinite(rho) and low <= rho <= high

    # predict gives what ResMem itself gives for the same image.
    image = sorted((demo_root() / "images").glob("*.jpg"))[0]
    out = tmp_path / "p.csv"
    res = runner.invoke(
        app, ["predict", str(image), "--baseline", "resmem", "--out", str(out), "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    score = float(next(csv.DictReader(open(out)))["score"])
    assert 0.0 < score < 1.0

    import warnings

    from PIL import Image
    from resmem import ResMem, transformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ResMem(pretrained=True).eval()
    with torch.no_grad():
        direct = float(model(transformer(Image.open(image).convert("RGB")).view(-1, 3, 227, 227)))
    assert score == pytest.approx(direct, abs=1e-5)


def test_finetune_resmems_own_backbone(tmp_path):
    """`memtool finetune --model resmem`: ResMem's ResNet-152 with a one-output head, started
    from the ridge readout of its penultimate (2048-d pooled) features, trains and saves a
    checkpoint that `memtool predict` loads."""
    db, out = tmp_path / "r.duckdb", tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "finetune",
            "--model",
            "resmem",
            "--data",
            "demo",
            "--limit",
            "24",
            "--folds",
            "4",
            "--split",
            "1",
            "--epochs",
            "1",
            "--batch-size",
            "6",
            "--img-size",
            "64",
            "--val-fraction",
            "0.25",
            "--n-boot",
            "50",
            "--no-penultimate",
            "--device",
            "cpu",
            "--db",
            str(db),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    _, rows = Store(db).query(
        "SELECT model, status, penultimate_layer, test_rho, recipe->>'head_init' FROM finetune_runs"
    )
    ((model, status, penultimate, rho, head_init),) = rows
    assert (model, status, head_init) == ("resmem", "completed", "ridge") and math.isfinite(rho)
    _, epochs = Store(db).query("SELECT epoch FROM finetune_epochs ORDER BY epoch")
    assert [e for (e,) in epochs] == [0, 1]
    best = next(out.rglob("best.pt"))
    image = sorted((demo_root() / "images").glob("*.jpg"))[0]
    res = runner.invoke(
        app,
        [
            "predict",
            str(image),
            "--checkpoint",
            str(best),
            "--out",
            str(tmp_path / "p.csv"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert math.isfinite(float(next(csv.DictReader(open(tmp_path / "p.csv")))["score"]))
