-- memtool results store, version 1: runs, data sets, models, layers, layer scores.
-- Released schema files are never edited; a change is a new numbered file.

CREATE TABLE IF NOT EXISTS runs (
    run_id          VARCHAR PRIMARY KEY,        -- random hex id
    kind            VARCHAR NOT NULL,           -- 'sweep' (later: 'finetune', ...)
    command         VARCHAR,                    -- the command line as typed
    config          JSON,                       -- every option that shaped the results
    config_hash     VARCHAR,
    memtool_version VARCHAR,
    versions        JSON,                       -- python, torch, timm, numpy, duckdb, ...
    device          VARCHAR,
    host            VARCHAR,
    status          VARCHAR NOT NULL,           -- running | completed | failed | interrupted
    error           VARCHAR,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    timings         JSON                        -- seconds per phase (load, extract, score, ...)
);

CREATE TABLE IF NOT EXISTS datasets (
    dataset_id   VARCHAR PRIMARY KEY,           -- fingerprint of images, scores and splits
    name         VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,              -- demo | lamem | lnsim | csv
    spec         VARCHAR NOT NULL,
    root         VARCHAR,
    n_images     INTEGER NOT NULL,
    n_splits     INTEGER NOT NULL,
    split_kind   VARCHAR NOT NULL,              -- kfold | published
    ceiling      DOUBLE,                        -- human split-half consistency, when known
    citation     VARCHAR,
    options      JSON,
    score_mean   DOUBLE,
    score_std    DOUBLE,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS models (
    model_id        VARCHAR PRIMARY KEY,        -- name + '@' + weights_id
    name            VARCHAR NOT NULL,           -- e.g. timm:resnet50
    source          VARCHAR NOT NULL,           -- timm | torchvision | checkpoint
    arch            VARCHAR NOT NULL,
    weights_source  VARCHAR NOT NULL,           -- where the weights came from
    weights_id      VARCHAR NOT NULL,
    n_params        BIGINT,
    n_layers        INTEGER,
    input_size      VARCHAR,                    -- e.g. 3x224x224
    data_config     JSON,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS layers (
    model_id        VARCHAR NOT NULL,
    layer_name      VARCHAR NOT NULL,
    layer_index     INTEGER NOT NULL,           -- position in named_modules()
    exec_order      INTEGER,                    -- position in forward execution (hook order)
    relative_depth  DOUBLE,                     -- exec_order / (n_layers - 1), 0 = first, 1 = last
    module_type     VARCHAR NOT NULL,
    output_shape    VARCHAR,                    -- per image, e.g. 64x56x56
    n_features      BIGINT,                     -- raw output size per image
    alias_of        VARCHAR,                    -- set when the output is the same tensor as this layer's
    PRIMARY KEY (model_id, layer_name)
);

-- One row per run x model x layer x target x fold, plus fold = 'pooled'.
-- setup_id fingerprints everything that decides the number (data set, splits, reducer,
-- readout, seed): equal setup_id means the row can be reused instead of recomputed.
CREATE TABLE IF NOT EXISTS layer_scores (
    run_id      VARCHAR NOT NULL,
    model_id    VARCHAR NOT NULL,
    layer_name  VARCHAR NOT NULL,
    dataset_id  VARCHAR NOT NULL,
    setup_id    VARCHAR NOT NULL,
    target      VARCHAR NOT NULL,               -- 'memorability' (later: brain targets)
    fold        VARCHAR NOT NULL,               -- split name or 'pooled'
    metric      VARCHAR NOT NULL,               -- 'spearman'
    score       DOUBLE,
    ci_low      DOUBLE,
    ci_high     DOUBLE,
    alpha       DOUBLE,                         -- ridge penalty chosen on training data
    n_train     INTEGER,
    n_test      INTEGER,
    reducer     VARCHAR NOT NULL,               -- e.g. pool, rp:1024, pca:256
    n_features  INTEGER,                        -- reduced dimensionality that was scored
    seconds     DOUBLE,                         -- scoring time of this layer
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model_id, layer_name, setup_id, target, fold)
);

CREATE TABLE IF NOT EXISTS setups (
    setup_id    VARCHAR PRIMARY KEY,
    dataset_id  VARCHAR NOT NULL,
    reducer     VARCHAR NOT NULL,
    readout     JSON,
    description JSON
);
