"""What the store records of brain targets and brain scores (pure: rows, no SQL, no I/O).

Brain scores land in ``layer_scores`` with ``dataset_id = target_id`` and
``target = region`` (the pooled score: ceiled where there is a ceiling, else raw), and
in ``brain_scores`` (raw, ceiling, ceiled, error); the target itself in ``datasets``,
``setups`` and ``brain_targets``. Everything travels through the result sink.
"""

from __future__ import annotations

import json
import math

from memtool.runtime import digest
from memtool.scoring.brain.target import BrainScore, BrainTarget
from memtool.store.tables import BRAIN_TARGET_COLUMNS


def brain_setup_id(target: BrainTarget, reducer_spec: str) -> str:
    """The setup id of a target's scores with a reducer (pure: no store needed).

    In Brain-Score features mode ``reducer_spec`` is ``brainscore-pca:1000@<reference
    fingerprint>``, so the two modes of one target never share a setup.
    """
    return digest({"brain_target": target.target_id, "reducer": reducer_spec})


def register_target(sink, target: BrainTarget, reducer_spec: str, features: dict | None = None) -> str:
    """Record the target through a result sink (``sink.register_brain_target``); return the setup id."""
    records = target_records(target, reducer_spec, features)
    sink.register_brain_target(records)
    return records["setup"]["setup_id"]


def target_records(target: BrainTarget, reducer_spec: str, features: dict | None = None) -> dict:
    """The rows that record a target: ``dataset``, ``setup``, ``brain_target`` and, with
    ``features`` (features mode, reference set fingerprint and source, n_components),
    ``brain_setup``.

    Brain scores land in ``layer_scores`` with ``dataset_id = target_id`` and
    ``target = region``; the setup id ties them to the reducer, so results are reused
    exactly when the target, its metric, brainscore-vision's version and the reducer
    are the same. In Brain-Score features mode ``reducer_spec`` is
    ``brainscore-pca:1000@<reference fingerprint>``.
    """
    info = target.describe()
    target_id = info["target_id"]
    setup_id = brain_setup_id(target, reducer_spec)
    dataset = {
        "dataset_id": target_id,
        "name": target.name,
        "kind": f"brain-{target.kind}",
        "spec": target.spec,
        "root": None,
        "n_images": len(target.stimuli),
        "n_splits": target.n_splits,
        "split_kind": "brainscore-vision",
        "ceiling": info["ceiling"],
        "citation": target.citation,
        "options": {"metric": target.metric, "benchmark": info["benchmark"]},
        "score_mean": None,
        "score_std": None,
    }
    setup = {
        "setup_id": setup_id,
        "dataset_id": target_id,
        "reducer": reducer_spec,
        "readout": {
            "method": "brainscore-vision benchmark",
            "metric": target.metric,
            "benchmark": info["benchmark"],
            "brainscore_vision": info["brainscore_vision"],
        },
        "description": {
            "target": target.region,
            "kind": "brain",
            "name": target.name,
            "score": info["score_kind"],
        },
    }
    row = {k: info[k] for k in BRAIN_TARGET_COLUMNS if k != "details"}
    row["details"] = json.dumps(
        {k: info[k] for k in ("benchmark_version", "n_splits", "task", "visual_degrees", "regression_impl")}
    )
    records = {"dataset": dataset, "setup": setup, "brain_target": row}
    if features is not None:
        records["brain_setup"] = {
            "setup_id": setup["setup_id"],
            "target_id": row["target_id"],
            "reducer": reducer_spec,
            **features,
        }
    return records


def score_rows(
    *,
    run_id: str,
    model_id: str,
    layer: str,
    target: BrainTarget,
    setup_id: str,
    reducer_spec: str,
    n_features: int,
    score: BrainScore,
    seconds: float,
) -> tuple[dict, dict]:
    """The ``layer_scores`` row (pooled; score = ceiled if there is a ceiling, else raw)
    and the ``brain_scores`` row (raw, ceiling, ceiled, error) of one layer."""
    value = score.value
    pooled = {
        "run_id": run_id,
        "model_id": model_id,
        "layer_name": layer,
        "dataset_id": target.target_id,
        "setup_id": setup_id,
        "target": target.region,
        "fold": "pooled",
        "metric": target.metric,
        "score": None if value is None or not math.isfinite(value) else float(value),
        "ci_low": None,
        "ci_high": None,
        "alpha": None,
        "n_train": None,
        "n_test": len(target.stimuli),
        "reducer": reducer_spec,
        "n_features": int(n_features),
        "seconds": round(seconds, 4),
    }
    detail = {
        "model_id": model_id,
        "layer_name": layer,
        "setup_id": setup_id,
        "target_id": target.target_id,
        "run_id": run_id,
        "raw": score.raw if score.raw is not None and math.isfinite(score.raw) else None,
        "ceiling": score.ceiling,
        "ceiled": score.ceiled,
        "error": score.error,
        "note": score.note,
        "seconds": round(seconds, 4),
        "regression_impl": target.regression_impl,
    }
    return pooled, detail
