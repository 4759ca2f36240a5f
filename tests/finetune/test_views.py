"""The study's views against numbers computed in Python from the same rows."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from memtool.analysis import spearman
from memtool.store import Store
from tests.fixture_store import build_fixture_store

T0 = datetime(2026, 2, 3, 4, 5, 6)
DS = "ds0000000001"
EXTRA = ["timm:convnext_tiny", "torchvision:vgg16"]


def _score(con, model_id, layer, target, score, created=T0, setup="setup0000001", dataset=DS):
    con.execute(
        "INSERT INTO layer_scores (run_id, model_id, layer_name, dataset_id, setup_id, target, fold,"
        " metric, score, reducer, created_at) VALUES ('runft', ?, ?, ?, ?, ?, 'pooled', 'spearman', ?, 'pool', ?)",
        [model_id, layer, dataset, setup, target, score, created],
    )


def _model(con, model_id, name, source, weights, layers, aliases=None):
    con.execute(
        "INSERT INTO models (model_id, name, source, arch, weights_source, weights_id, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        [model_id, name, source, name.split(":")[-1], weights, model_id.split("@")[1], T0],
    )
    for i, layer in enumerate(layers):
        con.execute(
            "INSERT INTO layers (model_id, layer_name, layer_index, exec_order, relative_depth,"
            " module_type, alias_of) VALUES (?,?,?,?,?,?,?)",
            [model_id, layer, i, i, i / max(1, len(layers) - 1), "X", (aliases or {}).get(layer)],
        )


def _run(con, fid, model, test_rho, penultimate, ft_model_id, status="completed", finished=T0):
    con.execute(
        "INSERT INTO finetune_runs (finetune_id, model, dataset_id, dataset, split, val_source, recipe,"
        " status, test_rho, test_ci_low, test_ci_high, penultimate_layer, finetuned_model_id, started_at,"
        " updated_at, finished_at, epochs_done, epochs_planned, best_epoch) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            fid,
            model,
            DS,
            "demo",
            "fold1",
            "carved",
            json.dumps({}),
            status,
            test_rho,
            None if test_rho is None else test_rho - 0.1,
            None if test_rho is None else test_rho + 0.1,
            penultimate,
            ft_model_id,
            finished - timedelta(minutes=5),
            finished,
            finished,
            3,
            3,
            2,
        ],
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    db = build_fixture_store(tmp_path_factory.mktemp("views") / "v.duckdb")
    store = Store(db)
    rng = np.random.default_rng(7)
    expected = {"test": {}, "ft_it": {}, "pre_it": {}, "penult": {}, "pre_penult_mem": {}}
    with store.writer() as con:
        pre = dict(con.execute("SELECT name, model_id FROM models").fetchall())
        for name in EXTRA:  # two more pretrained models, each with a few scored layers
            model_id = f"{name}@wx{len(pre)}"
            layers = ["stem", "mid", "pool"]
            _model(con, model_id, name, name.split(":")[0], "hf-cache:x", layers)
            for layer, depth in zip(layers, (0.0, 0.5, 1.0)):
                _score(con, model_id, layer, "memorability", 0.2 + 0.3 * depth + rng.normal(0, 0.02))
                _score(
                    con, model_id, layer, "IT", 0.2 + 0.3 * depth + rng.normal(0, 0.05), setup="brainsetup01"
                )
            pre[name] = model_id
        for k, (name, model_id) in enumerate(sorted(pre.items())):
            penult = con.execute(
                "SELECT l.layer_name FROM layers l JOIN layer_scores s ON s.model_id = l.model_id"
                " AND s.layer_name = l.layer_name AND s.target = 'IT' WHERE l.model_id = ? AND l.alias_of IS NULL"
                " ORDER BY l.layer_index DESC LIMIT 1",
                [model_id],
            ).fetchone()[0]
            ft_id = f"{name}@ft{k}"
            if k == 0:  # the penultimate module returns its child's tensor: scores sit on the child
                scored = f"{penult}.flatten"
                _model(
                    con,
                    ft_id,
                    name,
                    "checkpoint",
                    f"checkpoint:/ft/{k}/best.pt",
                    [penult, scored],
                    aliases={penult: scored},
                )
            else:
                scored = penult
                _model(con, ft_id, name, "checkpoint", f"checkpoint:/ft/{k}/best.pt", [penult])
            ft_it = round(0.3 + 0.1 * k + rng.normal(0, 0.05), 6)
            _score(
                con,
                ft_id,
                scored,
                "IT",
                0.99,
                created=T0 - timedelta(days=1),  # superseded
                setup="brainsetup00",
            )
            _score(con, ft_id, scored, "IT", ft_it, created=T0 + timedelta(hours=1), setup="brainsetup01")
            _score(con, ft_id, scored, "memorability", 0.5 + 0.01 * k)
            test = [0.55, 0.61, 0.61, 0.48, 0.66][k]  # a tie: average ranks
            _run(con, f"old{k}", name, 0.1, penult, ft_id, finished=T0 - timedelta(days=2))  # older
            _run(con, f"run{k}", name, test, penult, ft_id)
            expected["test"][name], expected["ft_it"][name], expected["penult"][name] = test, ft_it, penult
            expected["pre_it"][name] = con.execute(
                "SELECT score FROM layer_scores WHERE model_id = ? AND layer_name = ? AND target = 'IT'",
                [model_id, penult],
            ).fetchone()[0]
            expected["pre_penult_mem"][name] = con.execute(
                "SELECT score FROM layer_scores WHERE model_id = ? AND layer_name = ? AND target = 'memorability'"
                " AND fold = 'pooled'",
                [model_id, penult],
            ).fetchone()[0]
        _run(
            con,
            "failed0",
            "timm:resnet18",
            None,
            None,
            None,
            status="failed",
            finished=T0 + timedelta(days=1),
        )
        con.execute(
            "INSERT INTO evaluations (predictor_id, predictor, dataset_id, dataset, split, part,"
            " n_images, rho) VALUES ('resmem@1.1', 'resmem', ?, 'demo', 'fold1', 'test', 60, 0.42)",
            [DS],
        )
    best = dict(
        store.query("SELECT model_id, memorability FROM best_layer_per_model WHERE dataset_id = ?", [DS])[1]
    )
    expected["best"] = {name: best[model_id] for name, model_id in pre.items()}  # pretrained only
    return store, expected


def _fisher(rho, n):
    half = 1.959963984540054 / math.sqrt(n - 3)
    return math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)


def test_relation_matches_python(study):
    store, exp = study
    names = sorted(exp["test"])
    cols, rows = store.query("SELECT * FROM finetune_brain_relation WHERE region = 'IT'")
    assert len(rows) == 1
    row = dict(zip(cols, rows[0]))
    test = [exp["test"][n] for n in names]
    pairs = {
        "finetuned": (test, [exp["ft_it"][n] for n in names]),
        "from_pretrained": (test, [exp["pre_it"][n] for n in names]),
        "pretrained_best": ([exp["best"][n] for n in names], [exp["pre_it"][n] for n in names]),
        "pretrained_penult": ([exp["pre_penult_mem"][n] for n in names], [exp["pre_it"][n] for n in names]),
    }
    for relation, (x, y) in pairs.items():
        rho = spearman(x, y)
        assert row[f"{relation}_n"] == 5
        assert row[f"{relation}_rho"] == pytest.approx(rho, abs=1e-12), relation
        low, high = _fisher(rho, 5)
        assert row[f"{relation}_ci_low"] == pytest.approx(low) and row[
            f"{relation}_ci_high"
        ] == pytest.approx(high)


def test_regions_only_the_pretrained_models_have(study):
    store, _ = study
    _, rows = store.query(
        "SELECT region, finetuned_n, finetuned_rho, pretrained_best_n FROM finetune_brain_relation"
        " WHERE region = 'V1'"
    )
    # Only the three fixture models were scored on V1 (pretrained); no fine-tuned V1 scores.
    assert rows == [("V1", 0, None, 3)]


def test_penultimate_scores_use_latest_runs_and_scores(study):
    store, exp = study
    _, rows = store.query(
        "SELECT model, test_rho, finetuned_similarity, pretrained_similarity, penultimate_layer"
        " FROM finetune_penultimate_scores WHERE region = 'IT' ORDER BY model"
    )
    assert [r[0] for r in rows] == sorted(exp["test"])
    for model, test, ft, pre, layer in rows:
        assert test == exp["test"][model] and ft == pytest.approx(exp["ft_it"][model])
        assert pre == pytest.approx(exp["pre_it"][model]) and layer == exp["penult"][model]


def test_finetune_results_lists_every_run(study):
    store, exp = study
    cols, rows = store.query("SELECT * FROM finetune_results")
    assert len(rows) == 11 and rows[0][cols.index("status")] == "failed"  # newest first
    by_id = {r[cols.index("finetune_id")]: dict(zip(cols, r)) for r in rows}
    for k in range(5):
        row = by_id[f"run{k}"]
        assert row["IT"] == pytest.approx(exp["ft_it"][row["model"]])
        assert row["pretrained_IT"] == pytest.approx(exp["pre_it"][row["model"]])
        assert row["penultimate_memorability"] == pytest.approx(0.5 + 0.01 * k)
        assert row["resmem_test_rho"] == 0.42
    assert by_id["failed0"]["IT"] is None and by_id["failed0"]["pretrained_model_id"] == "timm:resnet18@wresn"
