"""`memtool sweep --brain`: every layer scored against brain targets, resumable, clean errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.data.neural import NeuralData, write_local
from memtool.store import Store
from tests._sweep_args import tiny_sweep_options

runner = CliRunner()
TINY = [
    "--model",
    "test_resnet",
    "--random-init",
    *tiny_sweep_options(n_boot=50, batch_size=16),
    "--layers",
    "blocks",
]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def v4_dir(tmp_path_factory, cowley_210325):
    """60 images x 12 neurons of the V4 session with repeats, in the memtool format
    (brainscore's per-neuroid correlations dominate the cost; fewer neurons, faster test)."""
    d, n, k = cowley_210325, 60, 12
    sub = NeuralData(
        name="v4sub",
        kind="responses",
        region="V4",
        spec="",
        stimulus_ids=d.stimulus_ids[:n],
        stimuli=d.stimuli[:n],
        stimulus_meta={key: v[:n] for key, v in d.stimulus_meta.items()},
        responses=d.responses[:k, :n],
        repeats=d.repeats[:k, :n],
        neuroid_ids=d.neuroid_ids[:k],
    )
    return write_local(tmp_path_factory.mktemp("v4") / "v4sub", [sub])


@pytest.fixture(scope="module")
def swept(tmp_path_factory, v4_dir):
    db = tmp_path_factory.mktemp("sweep-brain") / "s.duckdb"
    result = invoke("sweep", *TINY, "--brain", "demo-it", "--brain", v4_dir, "--db", db)
    assert result.exit_code == 0, result.output
    return db, result.output


@pytest.mark.slow
def test_every_layer_gets_a_score_per_target(swept):
    db, output = swept
    assert "does memorability track brain similarity" in output
    store = Store(db)
    n_mem = store.query(
        "SELECT count(*) FROM layer_scores WHERE target = 'memorability' AND fold = 'pooled'"
    )[1][0][0]
    _, targets = store.query(
        "SELECT name, region, kind, metric, score_kind, ceiling FROM brain_targets ORDER BY name"
    )
    assert [t[:5] for t in targets] == [
        ("demo:kriegeskorte92-monkey", "IT", "local-rdm", "rdm", "raw"),
        ("local:v4sub", "V4", "local-responses", "pls", "ceiled"),
    ]
    assert 0 < targets[1][5] < 1
    _, per_target = store.query(
        "SELECT target, count(*), count(score) FROM layer_scores WHERE target <> 'memorability' "
        "GROUP BY target ORDER BY target"
    )
    assert [(t, n) for t, n, _ in per_target] == [("IT", n_mem), ("V4", n_mem)]
    assert all(scored > n_mem / 2 for _, _, scored in per_target)
    _, parts = store.query(
        "SELECT count(*), count(*) FILTER (WHERE abs(b.ceiled - b.raw * b.raw / b.ceiling) < 1e-12) "
        "FROM brain_scores b JOIN brain_targets t USING (target_id) WHERE t.region = 'V4' AND b.raw IS NOT NULL"
    )
    assert parts[0][0] > 0 and parts[0][0] == parts[0][1]  # brainscore's r^2 / ceiling
    _, nulls = store.query(
        "SELECT count(*) FROM layer_scores s JOIN brain_scores b "
        "USING (model_id, layer_name, setup_id) WHERE s.score IS NULL AND b.note IS NULL"
    )
    assert nulls[0][0] == 0  # every missing score says why
    run = store.query("SELECT status, versions->>'brainscore-vision' FROM runs")[1][0]
    assert run[0] == "completed" and run[1]
    _, corr = store.query(
        "SELECT region, n_layers FROM memorability_brain_correlation WHERE scope = 'model' ORDER BY region"
    )
    assert [c[0] for c in corr] == ["IT", "V4"] and all(c[1] >= 8 for c in corr)


@pytest.mark.slow
def test_rerun_resumes_and_force_recomputes(swept, v4_dir):
    db, _ = swept
    before = Store(db).query("SELECT count(*) FROM brain_scores")[1][0][0]
    again = invoke("sweep", *TINY, "--brain", "demo-it", "--brain", v4_dir, "--db", db)
    assert again.exit_code == 0, again.output
    assert again.output.count("already scored: skipped") == 2
    assert Store(db).query("SELECT count(*) FROM brain_scores")[1][0][0] == before
    forced = invoke("sweep", *TINY, "--brain", "demo-it", "--db", db, "--force")
    assert forced.exit_code == 0, forced.output
    _, runs = Store(db).query(
        "SELECT count(DISTINCT run_id) FROM brain_scores JOIN brain_targets USING (target_id) "
        "WHERE region = 'IT'"
    )
    assert runs[0][0] == 1  # the forced run replaced the IT rows


@pytest.mark.slow
def test_bad_brain_input_stops_before_anything_is_written(swept, tmp_path, v4_dir):
    db, _ = swept
    store = Store(db)
    rows_before = store.query("SELECT count(*) FROM layer_scores")[1][0][0]
    runs_before = store.query("SELECT count(*) FROM runs")[1][0][0]
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in v4_dir.iterdir():
        target = broken / item.name
        if item.is_dir():
            target.mkdir()
            for f in item.iterdir():
                (target / f.name).write_bytes(f.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    next(iter(sorted((broken / "stimuli").iterdir()))).write_bytes(b"\x00garbage")
    result = invoke("sweep", *TINY, "--brain", broken, "--db", db)
    assert result.exit_code == 3
    assert "cannot read stimulus image" in result.output and len(result.output.strip().splitlines()) == 1
    assert store.query("SELECT count(*) FROM layer_scores")[1][0][0] == rows_before
    assert store.query("SELECT count(*) FROM runs")[1][0][0] == runs_before
    unknown = invoke("sweep", *TINY, "--brain", "NoSuch2099.V4-pls", "--db", db)
    assert unknown.exit_code == 2 and "unknown brain target" in unknown.output


def test_demo_defaults_to_the_bundled_it_data():
    from memtool.cli.sweep_cmd import _brain_specs

    assert _brain_specs(None, demo=True) == ["demo-it"]
    assert _brain_specs(None, demo=False) == []
    assert _brain_specs(["none"], demo=True) == []
    assert _brain_specs(["IT", "V4"], demo=False) == ["IT", "V4"]
