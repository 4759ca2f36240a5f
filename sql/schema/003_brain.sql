-- memtool results store, version 3: brain targets and the parts of every brain score.
-- Released schema files are never edited; a change is a new numbered file.
--
-- A brain score of a layer is one pooled row in layer_scores (target = the region, e.g.
-- 'IT'; dataset_id = the brain target's target_id; metric = brainscore's metric name;
-- score = the ceiled score when the target has a ceiling, else the raw score, as
-- brain_targets.score_kind says) plus one row in brain_scores with the raw score, the
-- ceiling, the ceiled score and brainscore's error estimate.

CREATE TABLE IF NOT EXISTS brain_targets (
    target_id         VARCHAR PRIMARY KEY,  -- digest: benchmark or data, metric, seed, brainscore-vision version
    name              VARCHAR NOT NULL,     -- e.g. MajajHong2015public.IT-pls, local:cowley2023-210325
    region            VARCHAR NOT NULL,     -- V1 | V2 | V4 | IT | behavior | a region label of local data
    kind              VARCHAR NOT NULL,     -- registry | local-responses | local-rdm
    benchmark         VARCHAR NOT NULL,     -- brainscore-vision benchmark identifier
    metric            VARCHAR NOT NULL,     -- pls | ridge | rdm | i2n | ...
    ceiling           DOUBLE,               -- NULL: the target has no ceiling
    ceiling_method    VARCHAR,
    score_kind        VARCHAR NOT NULL,     -- what layer_scores.score holds: 'ceiled' or 'raw'
    brainscore_vision VARCHAR,              -- version that computed the scores (ceilings changed over versions)
    n_stimuli         INTEGER,
    n_neuroids        INTEGER,
    spec              VARCHAR,              -- the --brain value that loads it again
    citation          VARCHAR,
    details           JSON,                 -- benchmark version, CV splits, task, visual degrees
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS brain_scores (
    model_id    VARCHAR NOT NULL,
    layer_name  VARCHAR NOT NULL,
    setup_id    VARCHAR NOT NULL,           -- brain setup: target + reducer (layer_scores.setup_id)
    target_id   VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    raw         DOUBLE,                     -- the metric's value (e.g. median Pearson r of PLS predictions)
    ceiling     DOUBLE,
    ceiled      DOUBLE,                     -- brainscore's ceiled score (r^2 / ceiling for neural benchmarks)
    error       DOUBLE,                     -- brainscore's error estimate (SEM over CV splits), where given
    note        VARCHAR,                    -- why the score is NULL, when it is (e.g. fewer features than PLS components)
    seconds     DOUBLE,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model_id, layer_name, setup_id)
);
