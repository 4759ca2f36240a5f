"""`memtool tui` refuses bad files before starting, and the core never imports Textual."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest
from typer.testing import CliRunner

from memtool.cli.main import app

CORE_MODULES = (
    "memtool.store",
    "memtool.sweep",
    "memtool.analysis",
    "memtool.cli.main",
    "memtool.data.memorability",
    "memtool.extract.tap",
    "memtool.scoring.readout",
)


def _tui(*args):
    result = CliRunner().invoke(app, ["tui", *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code, lines


def test_missing_file_is_one_line_and_exit_6(tmp_path):
    code, lines = _tui("--db", str(tmp_path / "nope.duckdb"))
    assert code == 6 and len(lines) == 1
    assert "no results database at" in lines[0] and "memtool sweep" in lines[0]


def test_a_duckdb_file_that_memtool_did_not_write(tmp_path):
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (a INTEGER)")
    code, lines = _tui("--db", str(path))
    assert code == 6 and len(lines) == 1
    assert "not a memtool results database" in lines[0]


@pytest.mark.parametrize("content", [b"hello, not a database\n", b""])
def test_a_file_that_is_not_a_database(tmp_path, content):
    path = tmp_path / "notes.duckdb"
    path.write_bytes(content)
    code, lines = _tui("--db", str(path))
    assert code == 6 and len(lines) == 1 and "error:" in lines[0]
    assert path.read_bytes() == content  # read-only: an empty file is not turned into a store


def test_a_directory(tmp_path):
    code, lines = _tui("--db", str(tmp_path))
    assert code == 6 and len(lines) == 1 and "directory" in lines[0]


def test_a_store_from_an_older_memtool_without_its_views(tmp_path, fixture_db):
    path = tmp_path / "old.duckdb"
    path.write_bytes(fixture_db.read_bytes())
    with duckdb.connect(str(path)) as con:
        con.execute("DROP VIEW best_layer_per_model")  # depends on layer_scores_wide
        con.execute("DROP VIEW layer_scores_wide")
    code, lines = _tui("--db", str(path))
    assert code == 6 and len(lines) == 1 and "layer_scores_wide" in lines[0]


def test_a_good_store_without_a_terminal_says_what_to_use(fixture_db):
    code, lines = _tui("--db", str(fixture_db))
    assert code == 2 and len(lines) == 1
    assert "needs an interactive terminal" in lines[0] and "memtool query" in lines[0]


def test_db_defaults_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMTOOL_DB", str(tmp_path / "from-env.duckdb"))
    code, lines = _tui()
    assert code == 6 and "from-env.duckdb" in lines[0]


def test_core_modules_do_not_import_textual():
    probe = (
        f"import importlib, sys\nfor name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'textual_plotext', 'plotext', 'tree_sitter')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # and the check itself can fail: the TUI package does pull Textual in
    probe_tui = "import sys, memtool.tui; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe_tui], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
