"""`memtool report` on the fixture store: files, numbers against the views, selection,
partial stores, escaping and byte-for-byte determinism."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from memtool.analysis import partial_spearman, spearman
from memtool.errors import StoreError, UsageError
from memtool.report import build_report
from memtool.report.data import load_report_data
from memtool.store import Store
from tests.report._page import Page

TARGETS = ["V1", "V2", "V4", "IT"]


@pytest.fixture
def db_copy(fixture_db, tmp_path) -> Path:
    """A private copy of the fixture store that a test may change."""
    return Path(shutil.copy(fixture_db, tmp_path / "copy.duckdb"))


@pytest.fixture(scope="module")
def full(fixture_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-full")
    result = build_report(fixture_db, out)
    return result, Page(result.index), Store(fixture_db)


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.width >= 600 and img.height >= 300


def _assert_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = path.read_text()
    assert "<dc:date>" not in text and "Matplotlib v" not in text
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 20


# -- files ---------------------------------------------------------------------------------
def test_every_figure_is_written_as_valid_png_and_svg(full):
    result, page, _ = full
    assert result.figures == ["memorability_vs_brain", "depth_profiles", "best_layers"]
    for stem in result.figures:
        png, svg = result.out_dir / "figures" / f"{stem}.png", result.out_dir / "figures" / f"{stem}.svg"
        assert png in result.files and svg in result.files
        _assert_png(png)
        _assert_svg(svg)
        assert f"figures/{stem}.png" in page.images
        assert f"figures/{stem}.svg" in page.links
    assert result.index in result.files and result.files == sorted(result.files)


def test_report_leaves_matplotlib_settings_alone(fixture_db, tmp_path):
    before = dict(matplotlib.rcParams)
    build_report(fixture_db, tmp_path)
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


def test_same_store_gives_byte_identical_files(fixture_db, tmp_path, full):
    first, _, _ = full
    again = build_report(fixture_db, tmp_path / "again")
    names = [p.relative_to(first.out_dir) for p in first.files]
    assert names == [p.relative_to(again.out_dir) for p in again.files]
    for name in names:
        assert (first.out_dir / name).read_bytes() == (again.out_dir / name).read_bytes(), name
    # rebuilding in place keeps every file (nothing counted as stale)
    third = build_report(fixture_db, tmp_path / "again")
    assert third.removed == [] and third.files == again.files


# -- numbers against the views -------------------------------------------------------------
def test_best_layer_table_equals_best_layer_per_model(full):
    _, page, store = full
    cols = [
        "model",
        "layer",
        "relative_depth",
        "memorability",
        "memorability_ci_low",
        "memorability_ci_high",
        *TARGETS,
        "n_layers_scored",
        "human_ceiling",
    ]
    names, rows = store.query(f"SELECT {', '.join(cols)} FROM best_layer_per_model")
    expected = {(r[0], r[1]): dict(zip(names, r)) for r in rows}
    html_rows = page.rows("best-1")
    assert len(html_rows) == len(expected) == 3
    for row in html_rows:
        want = expected[(row["model"].text, row["layer"].text)]
        for c in cols[2:]:
            assert row[c].number() == want[c], (row["model"].text, c)
    shown = [r["memorability"].number() for r in html_rows]
    assert shown == sorted(shown, reverse=True)


def test_layer_table_equals_layer_scores_wide(full):
    _, page, store = full
    cols = [
        "layer_index",
        "relative_depth",
        "memorability",
        "memorability_ci_low",
        "memorability_ci_high",
        *TARGETS,
        "n_features",
    ]
    names, rows = store.query(
        f"SELECT model, layer, {', '.join(cols)} FROM layer_scores_wide WHERE alias_of IS NULL"
    )
    expected = {(r[0], r[1]): dict(zip(names, r)) for r in rows}
    html_rows = page.rows("layers-1")
    assert len(html_rows) == len(expected) > 90
    seen = set()
    for row in html_rows:
        key = (row["model"].text, row["layer"].text)
        seen.add(key)
        for c in cols:
            assert row[c].number() == expected[key][c], (key, c)
    assert seen == set(expected)


def test_correlations_equal_the_analysis_on_the_view(full):
    _, page, store = full
    _, rows = store.query(
        "SELECT memorability, V1, V2, V4, IT, relative_depth, model FROM layer_scores_wide "
        "WHERE alias_of IS NULL"
    )
    data = np.array([r[:6] for r in rows], dtype=float)
    table = {(r["target"].text, r["model"].text): r for r in page.rows("correlations-1")}
    assert len(table) == 4 * 4  # four targets x (all models + three models)
    for j, target in enumerate(TARGETS, start=1):
        row = table[(target, "all models")]
        assert row["n"].number() == len(rows)
        assert row["spearman"].number() == pytest.approx(spearmanr(data[:, 0], data[:, j])[0], abs=1e-12)
        assert row["partial_spearman_depth"].number() == pytest.approx(
            partial_spearman(data[:, 0], data[:, j], data[:, 5]), abs=1e-12
        )
        lo, hi = row["spearman_ci_low"].number(), row["spearman_ci_high"].number()
        assert lo <= row["spearman"].number() <= hi
        one = np.array([r[6] == "timm:resnet18" for r in rows])
        assert table[(target, "timm:resnet18")]["spearman"].number() == pytest.approx(
            spearman(data[one, 0], data[one, j]), abs=1e-12
        )
    # the fixture's shape: IT tracks memorability, V1 runs against it
    assert table[("IT", "all models")]["spearman"].number() > 0.8
    assert table[("V1", "all models")]["spearman"].number() < -0.8


def test_report_data_names_targets_and_models(fixture_db):
    (study,) = load_report_data(Store(fixture_db)).studies
    assert study.targets == TARGETS
    assert study.target_names == {t: ["demo"] for t in TARGETS}  # brain rows' dataset_id
    assert [study.name(m) for m in study.model_ids] == [
        "timm:resnet18",
        "timm:tf_efficientnet_lite0",
        "torchvision:alexnet",
    ]


def test_runs_and_datasets_tables_carry_version_and_command(full):
    _, page, store = full
    _, rows = store.query("SELECT run_id, command, memtool_version, status FROM runs ORDER BY run_id")
    html = {r["run_id"].text: r for r in page.rows("runs")}
    assert sorted(html) == [r[0] for r in rows]
    for run_id, command, version, status in rows:
        assert html[run_id]["command"].text == command
        assert html[run_id]["memtool_version"].text == version
        assert html[run_id]["status"].text == status
    (ds,) = page.rows("datasets")
    assert ds["name"].text == "demo" and ds["ceiling"].number() == 0.787
    assert ds["n_images"].number() == 300


def test_key_numbers_name_the_best_layer_and_ceiling(full):
    _, page, store = full
    _, rows = store.query(
        "SELECT model, layer, memorability, human_ceiling FROM best_layer_per_model "
        "ORDER BY memorability DESC LIMIT 1"
    )
    model, layer, rho, ceiling = rows[0]
    assert f"best layer overall: <b>{model}</b> / {layer}" in page.source
    assert f"<b>{rho:.3f}</b>" in page.source
    assert f"{100 * rho / ceiling:.0f}% of the human split-half ceiling {ceiling:.3f}" in page.source


# -- selection -------------------------------------------------------------------------------
def test_model_pattern_and_target_selection(fixture_db, tmp_path):
    result = build_report(fixture_db, tmp_path, models="resnet*", targets=["it"])
    page = Page(result.index)
    assert {r["model"].text for r in page.rows("best-1")} == {"timm:resnet18"}
    assert {r["model"].text for r in page.rows("layers-1")} == {"timm:resnet18"}
    assert page.tables["layers-1"]["headers"].count("IT") == 1
    assert "V1" not in page.tables["layers-1"]["headers"]
    assert {r["target"].text for r in page.rows("correlations-1")} == {"IT"}
    assert "models: resnet*" in page.source and "brain targets: it" in page.source
    # several patterns, full names
    result = build_report(fixture_db, tmp_path, models=["torchvision:*", "*lite0"])
    got = {r["model"].text for r in Page(result.index).rows("best-1")}
    assert got == {"torchvision:alexnet", "timm:tf_efficientnet_lite0"}


def test_run_selection_by_prefix(fixture_db, tmp_path):
    result = build_report(fixture_db, tmp_path, runs=["run000000001"])
    page = Page(result.index)
    assert [r["run_id"].text for r in page.rows("runs")] == ["run000000001"]
    assert len(page.rows("best-1")) == 3
    # the failed run wrote no scores: the report says so instead of failing
    result = build_report(fixture_db, tmp_path, runs=["run000000002"])
    assert result.figures == []
    assert any(m.startswith("no memorability scores in the selection") for m in result.missing)
    assert [p.name for p in result.removed] == sorted(
        f"{s}.{e}" for s in ("best_layers", "depth_profiles", "memorability_vs_brain") for e in ("png", "svg")
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"runs": ["run0000"]}, "matches several runs"),
        ({"runs": ["feedbeef"]}, "is not in the database"),
        ({"models": "vgg*"}, "no model in the database matches vgg*"),
        ({"targets": ["V3"]}, "unknown brain target 'V3'"),
    ],
)
def test_selection_that_matches_nothing_is_a_usage_error(fixture_db, tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        build_report(fixture_db, tmp_path, **kwargs)
    assert not (tmp_path / "index.html").exists()


def test_missing_or_foreign_database(tmp_path):
    with pytest.raises(StoreError, match="no results database"):
        build_report(tmp_path / "nope.duckdb", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        build_report(tmp_path / "nope.duckdb", tmp_path / "file")


# -- partial stores -----------------------------------------------------------------------------
def test_store_without_brain_scores_says_so(db_copy, tmp_path):
    with Store(db_copy).writer() as con:
        con.execute("DELETE FROM layer_scores WHERE target <> 'memorability'")
    result = build_report(db_copy, tmp_path)
    assert result.figures == ["depth_profiles", "best_layers"]
    assert any(m.startswith("no brain scores") for m in result.missing)
    page = Page(result.index)
    assert any("no brain scores" in m for m in page.missing)
    assert "correlations-1" not in page.tables
    assert "V1" not in page.tables["best-1"]["headers"]
    for stem in result.figures:
        _assert_png(tmp_path / "figures" / f"{stem}.png")


def test_requested_target_without_scores_and_unknown_ceiling(db_copy, tmp_path):
    with Store(db_copy).writer() as con:
        con.execute("UPDATE datasets SET ceiling = NULL")
    result = build_report(db_copy, tmp_path, targets=["IT", "behavior"])
    assert (
        "no behavior scores for the selected layers: run `memtool sweep --brain behavior ...`"
        in result.missing
    )
    assert any("has no human ceiling" in m for m in result.missing)
    assert "no human ceiling on record" in result.index.read_text()


def test_empty_store_still_writes_a_page(tmp_path):
    db = tmp_path / "empty.duckdb"
    Store(db).migrate()
    result = build_report(db, tmp_path / "out")
    assert result.figures == [] and result.files == [result.index]
    page = Page(result.index)
    assert page.rows("runs") == [] and page.rows("datasets") == []
    assert any("no memorability scores" in m for m in page.missing)
    assert any("no fine-tuning results" in m for m in page.missing)


def test_two_setups_are_two_studies_never_mixed(db_copy, tmp_path):
    with Store(db_copy).writer() as con:
        con.execute("INSERT INTO setups VALUES ('setup0000002', 'ds0000000001', 'rp:64', '{}', '{}')")
        con.execute(
            "INSERT INTO layer_scores SELECT run_id, model_id, layer_name, dataset_id, "
            "'setup0000002', target, fold, metric, score / 2, ci_low / 2, ci_high / 2, alpha, "
            "n_train, n_test, 'rp:64', 64, seconds, created_at FROM layer_scores "
            "WHERE target = 'memorability' AND model_id LIKE 'timm:resnet18%'"
        )
    result = build_report(db_copy, tmp_path)
    assert result.figures == [
        "memorability_vs_brain--demo-pool",
        "depth_profiles--demo-pool",
        "best_layers--demo-pool",
        "depth_profiles--demo-rp-64",
        "best_layers--demo-rp-64",
    ]
    page = Page(result.index)
    assert page.tables["best-2"]["attrs"]["data-setup"] == "setup0000002"
    assert {r["model"].text for r in page.rows("best-2")} == {"timm:resnet18"}
    _, rows = Store(db_copy).query(
        "SELECT count(*) FROM layer_scores_wide WHERE setup_id = 'setup0000001' AND alias_of IS NULL"
    )
    n_first = rows[0][0]
    assert len(page.rows("layers-1")) == n_first


def test_database_text_is_escaped_and_literal_in_figures(db_copy, tmp_path):
    evil = 'timm:res$net<script>alert("x")</script>&amp;'
    with Store(db_copy).writer() as con:
        con.execute("UPDATE models SET name = ? WHERE name = 'timm:resnet18'", [evil])
        con.execute(
            "UPDATE runs SET command = 'memtool sweep --model \"<img src=x onerror=1>\"' "
            "WHERE run_id = 'run000000001'"
        )
    result = build_report(db_copy, tmp_path)
    text = result.index.read_text()
    assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in text and "&amp;amp;" in text
    page = Page(result.index)
    assert evil in {r["model"].text for r in page.rows("best-1")}
    assert page.rows("runs")[0]["command"].text == 'memtool sweep --model "<img src=x onerror=1>"'
    for stem in result.figures:  # a '$' in a name must not break matplotlib's math text
        _assert_png(tmp_path / "figures" / f"{stem}.png")
