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
    res = runner.invoke(app, ["evaluate", "--baseline", "resmem", "--data", "demo", "--limit", "48",
                              "--folds", "4", "--split", "1", "--n-boot", "100", "--db", str(db),
                              "--device", "cpu", "--batch-size", "12"])
    assert res.exit_code == 0, res.output
    _, rows = Store(db).query("SELECT predictor_id, dataset, split, part, n_images, rho, ci_low, ci_high "
                              "FROM evaluations")
    (predictor, dataset, split, part, n, rho, low, high), = rows
    assert predictor.startswith("resmem@") and (dataset, split, part, n) == ("demo", "fold1", "test", 12)
    assert math.isfinite(rho) and low <= rho <= high

    # predict gives what ResMem itself gives for the same image.
    image = sorted((demo_root() / "images").glob("*.jpg"))[0]
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(image), "--baseline", "resmem", "--out", str(out),
                              "--device", "cpu"])
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
