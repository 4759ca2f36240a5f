-- `memtool study`: what each stage of a study file has done, and the throughput the plan
-- measured on this machine. The stages' own results live in the tables they always used
-- (layer_scores, finetune_runs, evaluations); these rows only say which items are done.

-- One row per study (its name) x stage x item (a model, a model x split, a baseline x split).
-- `digest` is a digest of the options that item ran with: an item whose options changed is
-- not counted as done.
CREATE TABLE IF NOT EXISTS study_progress (
    study        VARCHAR NOT NULL,      -- the study file's name (its `name` key)
    stage        VARCHAR NOT NULL,      -- sweep | finetune | penultimate | baselines | report
    item         VARCHAR NOT NULL,      -- e.g. timm:resnet50, timm:resnet50 split1, resmem split1
    digest       VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,      -- running | completed | failed | interrupted
    error        VARCHAR,
    detail       JSON,                  -- e.g. the checkpoint a fine-tuning item wrote
    host         VARCHAR,
    pid          INTEGER,
    seconds      DOUBLE,
    started_at   TIMESTAMP,
    updated_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (study, stage, item)
);

-- Throughput measured by `memtool study plan` (a few batches of each distinct model), so
-- the next plan reuses it. One row per model x kind (forward | train) x input size x batch
-- size x device name.
CREATE TABLE IF NOT EXISTS study_calibration (
    model          VARCHAR NOT NULL,    -- canonical name (timm:resnet50)
    kind           VARCHAR NOT NULL,    -- forward | train
    input_size     INTEGER NOT NULL,    -- pixels (square)
    batch_size     INTEGER NOT NULL,
    device         VARCHAR NOT NULL,    -- cpu (N threads) | the CUDA device's name
    images_per_s   DOUBLE NOT NULL,
    peak_bytes     BIGINT,              -- memory the model and its batches took at the peak
    gflops         DOUBLE,              -- per image, forward pass, at input_size
    n_params       BIGINT,
    n_batches      INTEGER,
    host           VARCHAR,
    memtool_version VARCHAR,
    measured_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model, kind, input_size, batch_size, device)
);
