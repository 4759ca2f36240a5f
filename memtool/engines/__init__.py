"""Engines: where a sweep's models run, nothing else.

``local`` runs them one after the other in this process, writing to the Store; ``ray``
runs one Ray task per model, each writing Parquet shards that the driver ingests. Both
run the same per-model pipeline (memtool.pipeline.sweep_model); the pipeline never
imports an engine. Import the engine you use (``memtool.engines.ray`` needs Ray only
when it runs).
"""
