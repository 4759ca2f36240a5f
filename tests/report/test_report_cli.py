"""`memtool report` through the Typer app: output, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.store import Store
from tests.report._page import Page
from tests._sweep_args import tiny_sweep_options

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_report_command_writes_the_page(fixture_db, tmp_path):
    out = tmp_path / "rep"
    result = invoke(
        "report",
        "--db",
        fixture_db,
        "--out",
        out,
        "--model",
        "alexnet",
        "--model",
        "resnet*",
        "--target",
        "IT",
        "--target",
        "V1",
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'index.html'} and 3 figures" in result.output
    assert "missing: no fine-tuning results" in result.output
    page = Page(out / "index.html")
    assert {r["model"].text for r in page.rows("best-1")} == {"torchvision:alexnet", "timm:resnet18"}
    assert {r["target"].text for r in page.rows("correlations-1")} == {"IT", "V1"}


def test_bad_options_are_one_line_errors(fixture_db, tmp_path):
    cases = [
        (["--target", "V3"], 2, "error: unknown brain target 'V3' (use one of V1, V2, V4, IT, behavior)"),
        (["--model", "vgg*"], 2, "error: no model in the database matches vgg*"),
        (["--run", "nope"], 2, "error: run 'nope' is not in the database"),
    ]
    for extra, code, message in cases:
        result = invoke("report", "--db", fixture_db, "--out", tmp_path, *extra)
        assert result.exit_code == code, result.output
        assert result.output.strip().splitlines()[0].startswith(message)
        assert len(result.output.strip().splitlines()) == 1
    result = invoke("report", "--db", tmp_path / "none.duckdb", "--out", tmp_path)
    assert result.exit_code == 6 and "no results database" in result.output


def test_cli_import_does_not_load_matplotlib():
    code = "import sys; import memtool.cli.main; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_report_on_a_store_written_by_a_real_sweep(tmp_path):
    """Sweep -> report end to end: the report reads what the sweep really writes."""
    db = tmp_path / "swept.duckdb"
    swept = invoke(
        "sweep",
        "--model",
        "test_resnet",
        "--random-init",
        *tiny_sweep_options(n_boot=50, batch_size=8),
        "--db",
        db,
    )
    assert swept.exit_code == 0, swept.output
    result = invoke("report", "--db", db, "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    assert "missing: no brain scores" in result.output
    page = Page(tmp_path / "rep" / "index.html")
    _, rows = Store(db).query("SELECT model, layer, memorability FROM best_layer_per_model")
    (best,) = page.rows("best-1")
    assert (best["model"].text, best["layer"].text, best["memorability"].number()) == rows[0]
    _, runs = Store(db).query("SELECT run_id, command FROM runs")
    assert [(r["run_id"].text, r["command"].text) for r in page.rows("runs")] == runs
    assert sorted(p.name for p in (tmp_path / "rep" / "figures").iterdir()) == [
        "best_layers.png",
        "best_layers.svg",
        "depth_profiles.png",
        "depth_profiles.svg",
    ]
