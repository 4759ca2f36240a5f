-- Distributed sweeps (Ray): result shards ingested exactly once, and one row per task.

-- Each Parquet shard a worker wrote, recorded in the same transaction that inserted its
-- rows, so ingesting a results directory twice adds nothing.
CREATE TABLE IF NOT EXISTS ingested_shards (
    shard        VARCHAR PRIMARY KEY,   -- path relative to the results directory
    table_name   VARCHAR NOT NULL,      -- models | layers | layer_scores
    run_id       VARCHAR,
    task_id      VARCHAR,
    n_rows       INTEGER NOT NULL,
    ingested_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One row per run x task (a model x image set): where it ran, how often, how it ended.
CREATE TABLE IF NOT EXISTS sweep_tasks (
    run_id       VARCHAR NOT NULL,
    task_id      VARCHAR NOT NULL,
    model        VARCHAR NOT NULL,      -- the model spec as given
    engine       VARCHAR NOT NULL,      -- local | ray
    status       VARCHAR NOT NULL,      -- running | completed | failed
    attempts     INTEGER,
    node         VARCHAR,
    error        VARCHAR,
    seconds      DOUBLE,
    updated_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, task_id)
);
