"""`memtool sweep --brain-features`: the mode per target, the reference set, the PCA cache."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.extract import brainscore_pca as bp
from memtool.extract.brainscore_pca import fit as bp_fit
from memtool.extract.brainscore_pca import reference as bp_reference
from memtool.store import Store
from tests._sweep_args import tiny_sweep_options

runner = CliRunner()
TINY = [
    "--model",
    "test_resnet",
    "--random-init",
    *tiny_sweep_options(n_boot=20, batch_size=50),
    "--layers",
    "^(layer[1-4]|global_pool|fc)$",
]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _setups(db):
    return Store(db).query("SELECT features, reducer, n_components, reference_set FROM brain_setups")[1]


@pytest.mark.slow
def test_brainscore_features_on_local_data_fit_once_then_come_from_the_cache(
    tmp_path, monkeypatch, lnsim_dir
):
    monkeypatch.setenv("MEMTOOL_CACHE", str(tmp_path / "cache"))
    fits = []
    real_fit = bp_fit.fit_components

    def counting_fit(model, layers, *args, **kwargs):
        fits.append([p.name for p in layers])
        return real_fit(model, layers, *args, **kwargs)

    monkeypatch.setattr(bp_fit, "fit_components", counting_fit)
    db = tmp_path / "s.duckdb"
    images = lnsim_dir / "images"

    plain = invoke("sweep", *TINY, "--brain", "demo-it", "--db", db)  # local data: reducer by default
    assert plain.exit_code == 0, plain.output
    assert _setups(db) == [("reducer", "pool", None, None)] and fits == []

    def brainscore_sweep(*extra):
        return invoke(
            "sweep",
            *TINY,
            "--brain",
            "demo-it",
            "--brain-features",
            "brainscore",
            "--pca-images",
            images,
            "--db",
            db,
            *extra,
        )

    first = brainscore_sweep()
    assert first.exit_code == 0, first.output
    fingerprint = bp.resolve_reference_images(images).fingerprint
    assert sorted(_setups(db)) == [
        ("brainscore", f"brainscore-pca:1000@{fingerprint}", 1000, fingerprint),
        ("reducer", "pool", None, None),
    ]
    fitted = [name for group in fits for name in group]  # one fit pass per memory-budget group
    assert fitted and len(fitted) == len(set(fitted))
    store = Store(db)
    query = (
        "SELECT s.layer_name, s.n_features, b.raw, l.n_features FROM layer_scores s "
        "JOIN brain_scores b USING (model_id, layer_name, setup_id) "
        "JOIN layers l USING (model_id, layer_name) "
        "WHERE s.reducer LIKE 'brainscore-pca:%' ORDER BY s.layer_name"
    )
    rows = store.query(query)[1]
    assert rows and all(k == min(d, 1000) for _, k, _, d in rows)  # PCA-1000, small layers whole
    assert any(d > 1000 for *_, d in rows) and all(raw is not None for _, _, raw, _ in rows)
    assert len(list((tmp_path / "cache" / "brainscore-pca").glob("*.json"))) == len(fitted)
    n_passes = len(fits)

    again = brainscore_sweep("--force")
    assert again.exit_code == 0, again.output
    assert len(fits) == n_passes  # components from the cache, nothing refitted
    assert Store(db).query(query)[1] == rows  # and the same scores


def test_no_reference_images_stops_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_IMAGENET_PATH", str(tmp_path / "missing.hdf5"))
    monkeypatch.setattr(bp_reference, "MODELS_BUCKET_HOST", "brain-score-models.invalid")
    db = tmp_path / "s.duckdb"
    result = invoke("sweep", *TINY, "--brain", "IT", "--db", db)  # registry: brainscore features
    assert result.exit_code == 3, result.output
    assert "MT_IMAGENET_PATH" in result.output and "--pca-images DIR" in result.output
    assert not db.exists()
    bad = invoke("sweep", *TINY, "--brain", "demo-it", "--brain-features", "pooled", "--db", db)
    assert bad.exit_code == 2 and "unknown --brain-features 'pooled'" in bad.output
