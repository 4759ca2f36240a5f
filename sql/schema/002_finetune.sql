-- memtool results store, version 2: fine-tuning runs, their epochs, predictions, evaluations.
-- Released schema files are never edited; a change is a new numbered file.

-- One row per model x data set x split x recipe (finetune_id is a digest of the four).
-- Written when training starts (status 'running') and updated after every epoch and at
-- the end, so a killed run leaves 'running' behind until it is resumed.
CREATE TABLE IF NOT EXISTS finetune_runs (
    finetune_id         VARCHAR PRIMARY KEY,
    run_id              VARCHAR,                -- runs row of the command that last worked on it
    model               VARCHAR NOT NULL,       -- starting model, canonical name (timm:resnet50)
    random_init         BOOLEAN NOT NULL DEFAULT false,
    dataset_id          VARCHAR NOT NULL,       -- datasets.dataset_id (same fingerprint as a sweep)
    dataset             VARCHAR NOT NULL,
    split               VARCHAR NOT NULL,       -- split1.. (published) or fold1.. (K-fold)
    val_source          VARCHAR NOT NULL,       -- 'published' or 'carved: F of train, seed S'
    recipe              JSON NOT NULL,          -- memtool.finetune.recipe.Recipe.describe()
    status              VARCHAR NOT NULL,       -- running | completed | failed | interrupted
    error               VARCHAR,
    n_train             INTEGER,
    n_val               INTEGER,
    n_test              INTEGER,
    epochs_planned      INTEGER,
    epochs_done         INTEGER,
    best_epoch          INTEGER,
    best_val_rho        DOUBLE,
    stopped_early       BOOLEAN,
    test_rho            DOUBLE,                 -- Spearman rho on the split's test images
    test_ci_low         DOUBLE,                 -- percentile bootstrap over test images
    test_ci_high        DOUBLE,
    test_loss           DOUBLE,                 -- MSE in training z-score units
    penultimate_layer   VARCHAR,                -- the layer feeding the head
    finetuned_model_id  VARCHAR,                -- models.model_id a sweep of the checkpoint gets
    checkpoint          VARCHAR,                -- best.pt (a memtool checkpoint)
    out_dir             VARCHAR,
    device              VARCHAR,
    seconds             DOUBLE,                 -- training + evaluation time, all sessions together
    started_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    finished_at         TIMESTAMP
);

-- One row per finished epoch, written before the epoch's checkpoint (a resumed run
-- replaces the rows of epochs it repeats).
CREATE TABLE IF NOT EXISTS finetune_epochs (
    finetune_id   VARCHAR NOT NULL,
    epoch         INTEGER NOT NULL,             -- 1-based
    train_loss    DOUBLE,                       -- mean MSE over the epoch (z-score units)
    val_loss      DOUBLE,
    val_rho       DOUBLE,                       -- Spearman rho on the validation images
    lr            DOUBLE,                       -- backbone learning rate at the epoch's end
    seconds       DOUBLE,                       -- training time of the epoch
    eval_seconds  DOUBLE,                       -- validation time
    images_per_s  DOUBLE,                       -- training images per second
    is_best       BOOLEAN,                      -- best validation rho so far
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (finetune_id, epoch)
);

-- Scores written by `memtool predict --db` (one row per predictor x image).
CREATE TABLE IF NOT EXISTS predictions (
    predictor_id  VARCHAR NOT NULL,             -- name@weights_id, or resmem@VERSION
    predictor     VARCHAR NOT NULL,             -- human name (checkpoint path or 'resmem')
    image         VARCHAR NOT NULL,             -- absolute path
    score         DOUBLE,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (predictor_id, image)
);

-- Results of `memtool evaluate` and of each fine-tuning run's final test, so that
-- checkpoints and baselines are compared on the same images.
CREATE TABLE IF NOT EXISTS evaluations (
    predictor_id  VARCHAR NOT NULL,
    predictor     VARCHAR NOT NULL,
    dataset_id    VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL,
    split         VARCHAR NOT NULL,
    part          VARCHAR NOT NULL,             -- test | val | train | all
    n_images      INTEGER NOT NULL,
    rho           DOUBLE,
    ci_low        DOUBLE,
    ci_high       DOUBLE,
    n_boot        INTEGER,
    seconds       DOUBLE,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (predictor_id, dataset_id, split, part)
);
