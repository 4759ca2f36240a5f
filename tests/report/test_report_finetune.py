"""The fine-tuning part of the report: read when the tables hold results, said missing when not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from memtool.report import build_report
from memtool.store import Store
from tests.report._finetune import FT_BRAIN, add_finetune_results
from tests.report._page import Page
from tests.report.test_report import _assert_png, _assert_svg


@pytest.fixture(scope="module")
def tuned(fixture_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("report-finetune")
    db = Path(shutil.copy(fixture_db, root / "ft.duckdb"))
    written = add_finetune_results(db)
    result = build_report(db, root / "out")
    return result, Page(result.index), Store(db), written


def test_finetune_figures_are_written(tuned):
    result, page, _, _ = tuned
    assert result.figures[-2:] == ["finetune_rho", "finetune_vs_similarity"]
    for stem in result.figures:
        _assert_png(result.out_dir / "figures" / f"{stem}.png")
        _assert_svg(result.out_dir / "figures" / f"{stem}.svg")
        assert f"figures/{stem}.png" in page.images
    assert not any("fine-tuning" in m for m in result.missing)


def test_finetune_table_equals_completed_runs(tuned):
    _, page, store, _ = tuned
    cols = ["test_rho", "test_ci_low", "test_ci_high", "best_val_rho", "n_test", "best_epoch"]
    names, rows = store.query(
        f"SELECT finetune_id, model, {', '.join(cols)} FROM finetune_results WHERE status = 'completed'"
    )
    expected = {r[0]: dict(zip(names, r)) for r in rows}
    html = {r["finetune_id"].text: r for r in page.rows("finetune")}
    assert set(html) == set(expected) and "ftrunning01" not in html
    for fid, row in html.items():
        assert row["model"].text == expected[fid]["model"]
        for c in cols:
            assert row[c].number() == expected[fid][c], (fid, c)


def test_penultimate_similarity_and_relation_equal_the_views(tuned):
    _, page, store, written = tuned
    sim = {(r["model"].text, r["region"].text): r for r in page.rows("finetune-penultimate")}
    assert len(sim) == 3 * 4
    for k, w in enumerate(written):
        for target, values in FT_BRAIN.items():
            row = sim[(w["model"], target)]
            assert row["finetuned_similarity"].number() == values[k]
            _, base = store.query(
                f"SELECT {target} FROM layer_scores_wide WHERE model_id = ? AND layer = ?",
                [w["base_id"], w["penultimate"]],
            )
            assert row["pretrained_similarity"].number() == base[0][0]
            assert row["test_rho"].number() == w["test_rho"]
            assert row["brain_target"].text == "demo"
    names, rows = store.query("SELECT * FROM finetune_brain_relation")
    view = {r[names.index("region")]: dict(zip(names, r)) for r in rows}
    html = {r["region"].text: r for r in page.rows("finetune-relations")}
    assert set(html) == set(view) == set(FT_BRAIN)
    rho = [w["test_rho"] for w in written]
    for target, values in FT_BRAIN.items():
        for kind in ("finetuned", "from_pretrained"):
            assert html[target][f"{kind}_n"].number() == view[target][f"{kind}_n"] == 3
            assert html[target][f"{kind}_rho"].number() == pytest.approx(
                view[target][f"{kind}_rho"], abs=1e-12
            )
        assert html[target]["finetuned_rho"].number() == pytest.approx(spearmanr(values, rho)[0], abs=1e-12)


def test_finetuned_weights_stay_out_of_the_pretrained_study(tuned):
    _, page, _, written = tuned
    tuned_ids = {w["tuned_id"] for w in written}
    best_ids = {r.get("data-model-id") for r in (row["attrs"] for row in page.tables["best-1"]["rows"])}
    layer_ids = {row["attrs"]["data-model-id"] for row in page.tables["layers-1"]["rows"]}
    assert best_ids == {w["base_id"] for w in written}
    assert not layer_ids & tuned_ids
    # the fine-tuned penultimate layer scored 0.9: it would be every model's best layer
    assert all(r["memorability"].number() < 0.9 for r in page.rows("best-1"))


def test_model_and_run_selection_apply_to_finetuning(tuned, tmp_path):
    _, _, store, _ = tuned
    result = build_report(store.path, tmp_path / "a", models="alexnet")
    assert [r["model"].text for r in Page(result.index).rows("finetune")] == ["torchvision:alexnet"]
    result = build_report(store.path, tmp_path / "b", runs=["run000000001"])
    assert "finetune" not in Page(result.index).tables
    assert any(m.startswith("no fine-tuning results in the selection") for m in result.missing)
    result = build_report(store.path, tmp_path / "c", runs=["run000000003"])
    page = Page(result.index)
    assert len(page.rows("finetune")) == 3
    assert "best-1" not in page.tables  # that run wrote no pretrained memorability scores


def test_finetuning_without_penultimate_brain_scores(fixture_db, tmp_path):
    db = Path(shutil.copy(fixture_db, tmp_path / "ft.duckdb"))
    add_finetune_results(db, with_brain=False)
    result = build_report(db, tmp_path / "out")
    # the pretrained relation is still drawn: the base models' penultimate layers are scored
    assert result.figures[-2:] == ["finetune_rho", "finetune_vs_similarity"]
    assert any(
        m.startswith("no brain scores for the fine-tuned models' penultimate layers") for m in result.missing
    )
    page = Page(result.index)
    rows = page.rows("finetune-penultimate")
    assert len(rows) == 12 and all(r["finetuned_similarity"].value is None for r in rows)
    assert all(r["pretrained_similarity"].value is not None for r in rows)
    relations = page.rows("finetune-relations")
    assert {r["finetuned_n"].number() for r in relations} == {0}
    assert {r["from_pretrained_n"].number() for r in relations} == {3}
