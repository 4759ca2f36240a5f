"""The columns memtool writes in each results table, and one insert of rows into them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import duckdb

SCORE_COLUMNS = (
    "run_id",
    "model_id",
    "layer_name",
    "dataset_id",
    "setup_id",
    "target",
    "fold",
    "metric",
    "score",
    "ci_low",
    "ci_high",
    "alpha",
    "n_train",
    "n_test",
    "reducer",
    "n_features",
    "seconds",
)
MODEL_COLUMNS = (
    "model_id",
    "name",
    "source",
    "arch",
    "weights_source",
    "weights_id",
    "n_params",
    "n_layers",
    "input_size",
    "data_config",
)
LAYER_COLUMNS = (
    "model_id",
    "layer_name",
    "layer_index",
    "exec_order",
    "relative_depth",
    "module_type",
    "output_shape",
    "n_features",
    "alias_of",
)
DATASET_COLUMNS = (
    "dataset_id",
    "name",
    "kind",
    "spec",
    "root",
    "n_images",
    "n_splits",
    "split_kind",
    "ceiling",
    "citation",
    "options",
    "score_mean",
    "score_std",
)
SETUP_COLUMNS = ("setup_id", "dataset_id", "reducer", "readout", "description")
BRAIN_TARGET_COLUMNS = (
    "target_id",
    "name",
    "region",
    "kind",
    "benchmark",
    "metric",
    "ceiling",
    "ceiling_method",
    "score_kind",
    "brainscore_vision",
    "n_stimuli",
    "n_neuroids",
    "spec",
    "citation",
    "details",
)
BRAIN_SETUP_COLUMNS = (
    "setup_id",
    "target_id",
    "reducer",
    "features",
    "reference_set",
    "reference_source",
    "n_reference",
    "n_components",
)
BRAIN_SCORE_COLUMNS = (
    "model_id",
    "layer_name",
    "setup_id",
    "target_id",
    "run_id",
    "raw",
    "ceiling",
    "ceiled",
    "error",
    "note",
    "seconds",
    "regression_impl",
)


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[dict],
    *,
    replace: bool = False,
) -> None:
    """executemany of ``rows`` (dicts; missing keys -> NULL) into ``columns`` of ``table``."""
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    con.executemany(
        f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [[r.get(c) for c in columns] for r in rows],
    )
