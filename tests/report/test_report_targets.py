"""The report never mixes two brain targets of one region (monkey IT and human IT)."""

from __future__ import annotations

from memtool.report.data import load_report_data
from memtool.report.figures import target_axis_label
from memtool.store import Store
from tests.unit.test_store import fill


def _brain(store: Store, target_id: str, name: str, setup_id: str, scores: dict[str, float]) -> None:
    store.upsert_dataset(
        {
            "dataset_id": target_id,
            "name": name,
            "kind": "brain-local-rdm",
            "spec": name,
            "n_images": 92,
            "n_splits": 1,
            "split_kind": "brainscore-vision",
        }
    )
    store.insert_scores(
        [
            {
                "run_id": "r1",
                "model_id": "m@1",
                "layer_name": layer,
                "dataset_id": target_id,
                "setup_id": setup_id,
                "target": "IT",
                "fold": "pooled",
                "metric": "rdm",
                "score": score,
                "reducer": "pool",
            }
            for layer, score in scores.items()
        ]
    )


def test_a_region_shows_one_target_on_every_layer(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.migrate()
    fill(store)  # memorability on layers a, b (and an IT score of an unnamed target on b)
    _brain(store, "t-monkey", "demo:kriegeskorte92-monkey", "s-monkey", {"a": 0.2, "b": 0.3})
    _brain(store, "t-human", "demo:kriegeskorte92-human", "s-human", {"b": 0.9})  # later, partial
    with store.writer() as con:  # drop fill()'s own IT row: two named targets remain
        con.execute("DELETE FROM layer_scores WHERE setup_id = 's2'")
    (study,) = load_report_data(store).studies
    assert study.target_names == {"IT": ["demo:kriegeskorte92-monkey"]}
    assert dict(study.layers.select("layer", "IT").rows()) == {"a": 0.2, "b": 0.3}
    assert target_axis_label("IT", study.target_names["IT"]) == "IT similarity (demo:kriegeskorte92-monkey)"
