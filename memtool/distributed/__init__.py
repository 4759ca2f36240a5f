"""Distributed sweeps: Parquet result shards written by workers, ingested by the driver.

``shards`` is plain Python + polars + DuckDB (no Ray): workers' ``ShardSink`` and the
driver's / ``memtool ingest``'s ``ingest_shards``. ``ray_engine`` runs one task per model
on a Ray cluster with the sweep's own scoring code. Only ``ray_engine`` imports ray.
"""

from memtool.distributed.ray_engine import run_models_on_ray

__all__ = ["run_models_on_ray"]
