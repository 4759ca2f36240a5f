"""The result sink: where everything a model produces goes, on its way to the one writer.

The pipeline (memtool.pipeline) writes models, layers, memorability scores, brain targets
and brain scores only through this protocol. Two implementations: the ``Store`` itself,
in-process, and ``memtool.store.shards.ShardSink`` on a Ray worker, whose Parquet shards
the driver (or ``memtool ingest``) puts into the store exactly once. Both live on the
store's side because both are the store's way in.
"""

from __future__ import annotations

from typing import Protocol, Sequence


class ResultSink(Protocol):
    def upsert_model(self, row: dict) -> None: ...
    def replace_layers(self, model_id: str, rows: Sequence[dict]) -> None: ...
    def scored_layers(self, model_id: str, setup_id: str, target: str) -> set[str]: ...
    def insert_scores(self, rows: Sequence[dict]) -> None: ...
    def register_brain_target(self, records: dict) -> None: ...  # scoring.brain.target_records
    def insert_brain_scores(self, rows: Sequence[tuple[dict, dict]]) -> None: ...  # score_rows
