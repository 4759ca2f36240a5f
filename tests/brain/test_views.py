"""The analysis views return what numpy/scipy compute from the same rows; brain rows land right."""

from __future__ import annotations

import math
import shutil
from collections import defaultdict

import numpy as np
import pytest
from scipy.stats import spearmanr

from memtool.analysis import partial_spearman
from memtool.scoring.brain import (
    BrainScore,
    load_brain_targets,
    register_target,
    score_rows,
)
from memtool.store import Store
from tests.fixture_store import build_fixture_store

Z = 1.959963984540054


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return Store(build_fixture_store(tmp_path_factory.mktemp("views") / "fx.duckdb"))


@pytest.fixture()
def fresh(store, tmp_path):
    """A private copy of the fixture store, for tests that write."""
    return Store(shutil.copyfile(store.path, tmp_path / "copy.duckdb"))


def _dicts(store, sql, params=None):
    cols, rows = store.query(sql, params)
    return [dict(zip(cols, r)) for r in rows]


def _layer_groups(store):
    """(scope, model_id, brain setup, region) -> [(memorability, brain, depth)] from the long view."""
    groups = defaultdict(list)
    for r in _dicts(store, "SELECT * FROM brain_layer_scores"):
        if None in (r["memorability"], r["brain"], r["relative_depth"]):
            continue
        value = (r["memorability"], r["brain"], r["relative_depth"])
        groups[("model", r["model_id"], r["brain_setup_id"], r["region"])].append(value)
        groups[("pooled", None, r["brain_setup_id"], r["region"])].append(value)
    return groups


def _fisher(r, n, extra=0):
    se = 1 / math.sqrt(n - 3 - extra)
    return math.tanh(math.atanh(r) - Z * se), math.tanh(math.atanh(r) + Z * se)


def test_correlation_view_matches_scipy(store):
    groups = _layer_groups(store)
    rows = _dicts(store, "SELECT * FROM memorability_brain_correlation")
    assert len(rows) == len(groups) == 16  # (3 models + pooled) x 4 regions
    for r in rows:
        mem, brain, _ = map(
            np.array, zip(*groups[(r["scope"], r["model_id"], r["brain_setup_id"], r["region"])])
        )
        assert r["n_layers"] == len(mem)
        rho = spearmanr(mem, brain).statistic
        assert r["spearman"] == pytest.approx(rho, abs=1e-10)
        assert (r["spearman_ci_low"], r["spearman_ci_high"]) == pytest.approx(
            _fisher(rho, len(mem)), abs=1e-10
        )
        assert r["pearson"] == pytest.approx(np.corrcoef(mem, brain)[0, 1], abs=1e-10)
    pooled = [r for r in rows if r["scope"] == "pooled"]
    assert {r["model"] for r in pooled} == {"(all models)"} and {r["n_layers"] for r in pooled} == {101}


def test_partial_view_matches_analysis(store):
    groups = _layer_groups(store)
    rows = _dicts(store, "SELECT * FROM memorability_brain_partial")
    for r in rows:
        mem, brain, depth = map(
            np.array, zip(*groups[(r["scope"], r["model_id"], r["brain_setup_id"], r["region"])])
        )
        expected = partial_spearman(mem, brain, depth)
        assert r["partial_spearman"] == pytest.approx(expected, abs=1e-10)
        assert (r["partial_ci_low"], r["partial_ci_high"]) == pytest.approx(
            _fisher(expected, len(mem), extra=1), abs=1e-10
        )
        assert r["memorability_depth_spearman"] == pytest.approx(spearmanr(mem, depth).statistic, abs=1e-10)
        assert r["brain_depth_spearman"] == pytest.approx(spearmanr(brain, depth).statistic, abs=1e-10)
    # the fixture's IT rises with depth like memorability: correlated, but not beyond depth
    it = next(r for r in rows if r["scope"] == "pooled" and r["region"] == "IT")
    assert it["spearman"] > 0.9 and abs(it["partial_spearman"]) < 0.3


def test_ties_get_average_ranks(fresh):
    s = fresh
    with s.writer() as con:  # make many brain scores equal
        con.execute("UPDATE layer_scores SET score = round(score, 1) WHERE target = 'V4'")
    groups = _layer_groups(s)
    for r in _dicts(s, "SELECT * FROM memorability_brain_partial WHERE region = 'V4'"):
        mem, brain, depth = map(
            np.array, zip(*groups[(r["scope"], r["model_id"], r["brain_setup_id"], r["region"])])
        )
        assert len(set(brain)) < len(brain) / 3
        assert r["spearman"] == pytest.approx(spearmanr(mem, brain).statistic, abs=1e-10)
        assert r["partial_spearman"] == pytest.approx(partial_spearman(mem, brain, depth), abs=1e-10)


def test_best_memorability_layer_with_brain_scores(store):
    pooled = _dicts(store, "SELECT * FROM layer_scores_pooled")
    rows = _dicts(store, "SELECT * FROM best_memorability_layer_brain")
    assert len(rows) == 12  # 3 models x 4 regions
    for r in rows:
        mem = [p for p in pooled if p["model_id"] == r["model_id"] and p["target"] == "memorability"]
        best = max(mem, key=lambda p: (p["score"], -p["relative_depth"]))
        assert r["best_memorability_layer"] == best["layer"] and r["memorability"] == best["score"]
        brain = sorted(
            (p for p in pooled if p["model_id"] == r["model_id"] and p["target"] == r["region"]),
            key=lambda p: -p["score"],
        )
        assert r["brain"] == next(p["score"] for p in brain if p["layer"] == best["layer"])
        assert r["brain_rank"] == 1 + sum(p["score"] > r["brain"] for p in brain)
        assert r["n_brain_layers"] == len(brain) and r["best_brain_layer"] == brain[0]["layer"]
        assert r["best_brain_score"] == brain[0]["score"]


def test_region_that_best_tracks_memorability(store):
    corr = _dicts(store, "SELECT * FROM memorability_brain_partial")
    rows = _dicts(store, "SELECT * FROM brain_region_tracking_memorability")
    assert len(rows) == 4  # 3 models + pooled
    for r in rows:
        mine = sorted(
            (c for c in corr if c["scope"] == r["scope"] and c["model_id"] == r["model_id"]),
            key=lambda c: -c["spearman"],
        )
        assert r["best_target"] == mine[0]["brain_target"]
        assert r["spearman"] == pytest.approx(mine[0]["spearman"], abs=1e-12)
        assert r["runner_up_target"] == mine[1]["brain_target"]
        assert r["runner_up_spearman"] == pytest.approx(mine[1]["spearman"], abs=1e-12)
        top_partial = max(mine, key=lambda c: c["partial_spearman"])
        assert r["best_partial_target"] == top_partial["brain_target"] and r["n_targets"] == 4
    assert {r["best_region"] for r in rows} == {"IT"}


def test_brain_rows_from_a_real_target_land_in_tables_and_views(fresh):
    s = fresh
    target = load_brain_targets(["demo-it"])[0]
    setup_id = register_target(s, target, "pool")
    assert register_target(s, target, "pool") == setup_id  # idempotent
    model_id = s.query("SELECT model_id FROM models ORDER BY model_id LIMIT 1")[1][0][0]
    layers = [
        r[0]
        for r in s.query(
            "SELECT DISTINCT layer_name FROM layer_scores WHERE model_id = ? AND target = 'memorability'",
            [model_id],
        )[1]
    ]
    scores = {
        layer: BrainScore(raw=0.01 * i, ceiling=None, ceiled=None, error=None)
        for i, layer in enumerate(layers)
    }
    rows = [
        score_rows(
            run_id="run000000001",
            model_id=model_id,
            layer=layer,
            target=target,
            setup_id=setup_id,
            reducer_spec="pool",
            n_features=16,
            score=sc,
            seconds=0.1,
        )
        for layer, sc in scores.items()
    ]
    s.insert_brain_scores(rows)
    info = _dicts(s, "SELECT * FROM brain_targets")[0]
    assert (info["name"], info["region"], info["kind"], info["metric"], info["score_kind"]) == (
        "demo:kriegeskorte92-monkey",
        "IT",
        "local-rdm",
        "rdm",
        "raw",
    )
    assert info["n_stimuli"] == 92 and info["brainscore_vision"]
    assert s.query("SELECT kind, n_images FROM datasets WHERE dataset_id = ?", [target.target_id])[1] == [
        ("brain-local-rdm", 92)
    ]
    long = _dicts(s, "SELECT * FROM brain_layer_scores WHERE brain_setup_id = ?", [setup_id])
    assert len(long) == len(layers)
    assert all(r["brain"] == scores[r["layer"]].raw == r["brain_raw"] for r in long)
    assert {r["brain_target"] for r in long} == {"demo:kriegeskorte92-monkey"}
    # the wide view's IT column shows the newest IT score of the layer: ours
    wide = dict(s.query("SELECT layer, IT FROM layer_scores_wide WHERE model_id = ?", [model_id])[1])
    assert all(wide[layer] == pytest.approx(sc.raw) for layer, sc in scores.items())
    corr = _dicts(
        s,
        "SELECT * FROM memorability_brain_correlation WHERE brain_setup_id = ? AND scope = 'model'",
        [setup_id],
    )
    assert len(corr) == 1 and corr[0]["brain_target"] == "demo:kriegeskorte92-monkey"
