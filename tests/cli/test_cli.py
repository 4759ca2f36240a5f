"""The CLI through Typer's runner: sweeps on tiny models, resume, queries, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.store import Store
from tests._sweep_args import tiny_sweep_options

runner = CliRunner()
TINY = [
    "--model",
    "test_resnet",
    "--random-init",
    *tiny_sweep_options(n_boot=50, batch_size=8),
]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    db = tmp_path_factory.mktemp("cli") / "s.duckdb"
    result = invoke("sweep", *TINY, "--db", db)
    assert result.exit_code == 0, result.output
    return db, result.output


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys; from memtool.cli.main import app; "
        "print(json.dumps({'torch': 'torch' in sys.modules, 'duckdb': 'duckdb' in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == {"torch": False, "duckdb": False}
    assert invoke("--help").exit_code == 0


def test_sweep_writes_every_scorable_layer(swept):
    db, output = swept
    assert "best layers for memorability" in output and str(db) in output
    store = Store(db)
    _, rows = store.query(
        "SELECT count(*), count(*) FILTER (WHERE alias_of IS NULL AND output_shape IS NOT NULL) FROM layers"
    )
    n_layers, n_scorable = rows[0]
    _, scored = store.query("SELECT count(DISTINCT layer_name) FROM layer_scores WHERE fold = 'pooled'")
    assert scored[0][0] == n_scorable > 0
    _, folds = store.query("SELECT DISTINCT fold FROM layer_scores ORDER BY fold")
    assert [f[0] for f in folds] == ["fold1", "fold2", "fold3", "pooled"]
    _, runs = store.query("SELECT status, config->>'reducer', versions->>'torch' FROM runs")
    assert runs[0][0] == "completed" and runs[0][1] == "pool" and runs[0][2]
    _, wide = store.query("SELECT count(*) FROM layer_scores_wide")
    assert (
        wide[0][0]
        == n_layers - store.query("SELECT count(*) FROM layers WHERE output_shape IS NULL")[1][0][0]
    )


def test_rerun_skips_and_force_recomputes(swept):
    db, _ = swept
    again = invoke("sweep", *TINY, "--db", db)
    assert again.exit_code == 0, again.output
    assert "0 scored now" in again.output and "already scored" in again.output
    forced = invoke("sweep", *TINY, "--db", db, "--force")
    assert forced.exit_code == 0 and "0 scored now" not in forced.output
    # Same setup, recomputed: identical numbers (seeded folds, bootstrap and features).
    _, rows = Store(db).query("SELECT count(DISTINCT run_id) FROM layer_scores")
    assert rows[0][0] == 1  # --force replaced the first run's rows by the third run's


def test_query_formats(swept, tmp_path):
    db, _ = swept
    res = invoke("query", "SELECT model, layer, memorability FROM best_layer_per_model", "--db", db)
    assert res.exit_code == 0 and "timm:test_resnet" in res.output
    res = invoke(
        "query",
        "SELECT layer, memorability FROM layer_scores_wide ORDER BY layer LIMIT 3",
        "--db",
        db,
        "--format",
        "json",
    )
    assert res.exit_code == 0 and len(json.loads(res.output)) == 3
    out = tmp_path / "x.parquet"
    res = invoke("query", "SELECT * FROM layer_scores_wide", "--db", db, "-f", "parquet", "-o", out)
    assert res.exit_code == 0 and out.stat().st_size > 0
    import polars as pl

    assert pl.read_parquet(out).height == Store(db).query("SELECT count(*) FROM layer_scores_wide")[1][0][0]
    res = invoke(
        "query", "SELECT * FROM layer_scores_wide", "--db", db, "-f", "csv", "-o", tmp_path / "x.csv"
    )
    assert res.exit_code == 0 and (tmp_path / "x.csv").read_text().startswith("model,layer,")


def test_query_errors_are_one_line(swept, tmp_path):
    db, _ = swept
    res = invoke("query", "SELEC 1", "--db", db)
    assert res.exit_code == 6 and "syntax error" in res.output and "Traceback" not in res.output
    res = invoke("query", "DELETE FROM runs", "--db", db)
    assert res.exit_code == 6 and "read-only" in res.output
    assert Store(db).query("SELECT count(*) FROM runs")[1][0][0] >= 1
    res = invoke("query", "SELECT 1", "--db", tmp_path / "nope.duckdb")
    assert res.exit_code == 6 and "no results database" in res.output
    res = invoke("query", "SELECT 1", "--db", db, "--format", "xml")
    assert res.exit_code == 2


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["--model", "no_such_net_xyz", "--random-init"], 4, "no_such_net_xyz"),
        (["--model", "test_resnet", "--random-init", "--reducer", "median"], 2, "unknown reducer"),
        (
            ["--model", "test_resnet", "--random-init", "--data", "lamem:/does/not/exist"],
            3,
            "/does/not/exist",
        ),
        (["--model", "test_resnet", "--random-init", "--layers", "zzz_no_layer"], 4, "zzz_no_layer"),
        (["--model", "test_resnet", "--random-init", "--device", "tpu"], 2, "unknown device"),
        (["--model", "test_resnet", "--random-init", "--limit", "3", "--folds", "5"], 3, "folds"),
    ],
)
def test_sweep_errors_are_one_line_with_exit_codes(tmp_path, args, code, text):
    res = invoke("sweep", *args, "--db", tmp_path / "e.duckdb", "--n-boot", "10")
    assert res.exit_code == code, res.output
    assert text in res.output and "Traceback" not in res.output
    assert res.output.strip().startswith("error:") or "error:" in res.output
    if code == 4:  # found by the pre-flight check, before any work: nothing was run or written
        assert not (tmp_path / "e.duckdb").exists()


def test_missing_weights_error_names_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = invoke(
        "sweep", "--model", "resnet18", "--db", tmp_path / "w.duckdb", "--limit", "10", "--folds", "3"
    )
    assert res.exit_code == 5, res.output
    assert "--random-init" in res.output and "resnet18" in res.output


def test_models_and_data_check(tmp_path):
    res = invoke("models", "tf_efficientnet_lite*", "--offline")
    assert res.exit_code == 0 and "tf_efficientnet_lite0" in res.output and "package:" in res.output
    res = invoke("data", "check", "demo")
    assert res.exit_code == 0 and "300" in res.output and "all 300 images open" in res.output
    bad = tmp_path / "bad.csv"
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    bad.write_text("path,score\na.jpg,0.5\na.jpg,0.7\n")
    res = invoke("data", "check", f"csv:{bad}")
    assert res.exit_code == 3 and "bad.csv" in res.output


def test_models_file_and_query_file(swept, tmp_path):
    db, _ = swept
    models = tmp_path / "models.txt"
    models.write_text("# tiny models\ntest_resnet  # again\n\n")
    res = invoke("sweep", "--models-from", models, *TINY[2:], "--db", db)
    assert res.exit_code == 0 and "0 scored now" in res.output
    (tmp_path / "empty.txt").write_text("# nothing\n")
    res = invoke("sweep", "--models-from", tmp_path / "empty.txt", "--db", db)
    assert res.exit_code == 2 and "names no model" in res.output
    query = tmp_path / "q.sql"
    query.write_text("-- best layers\nSELECT model, layer FROM best_layer_per_model;\n")
    res = invoke("query", "--file", query, "--db", db, "-f", "csv")
    assert res.exit_code == 0 and res.output.startswith("model,layer\ntimm:test_resnet,")
    assert invoke("query", "--db", db).exit_code == 2


def test_partial_layer_selection_keeps_the_layer_table_whole(tmp_path):
    db = tmp_path / "p.duckdb"
    assert invoke("sweep", *TINY, "--db", db).exit_code == 0
    store = Store(db)
    before = store.query("SELECT layer_name, relative_depth, alias_of FROM layers ORDER BY ALL")[1]
    scores = store.query("SELECT count(*) FROM layer_scores")[1][0][0]
    # 'layer1' is a container aliasing its last block's output: scored through that layer.
    res = invoke("sweep", *TINY, "--db", db, "--layers", "^(layer1|fc)$", "--force")
    assert res.exit_code == 0, res.output
    assert store.query("SELECT layer_name, relative_depth, alias_of FROM layers ORDER BY ALL")[1] == before
    assert store.query("SELECT count(*) FROM layer_scores")[1][0][0] == scores
    _, rows = store.query("SELECT layer, memorability FROM layer_scores_wide WHERE layer IN ('layer1', 'fc')")
    assert len(rows) == 2 and all(r[1] is not None for r in rows)
