-- finetune_results: one row per fine-tuning run (every status, newest first): the model,
-- data set and split, how training went (epochs, best epoch and its validation rho, early
-- stop, seconds), the test rho with its bootstrap CI, ResMem's rho on the same test images
-- when `memtool evaluate --baseline resmem` was run on them, and the penultimate layer's
-- scores: memorability readout rho and V1/V2/V4/IT/behavior similarity of the fine-tuned
-- checkpoint (latest score per region) next to the pretrained model's IT similarity.
-- depends on: layer_memorability, pretrained_models
CREATE OR REPLACE VIEW finetune_results AS
WITH brain AS (
    SELECT model_id, layer_name,
           arg_max(score, created_at) FILTER (WHERE target = 'V1')       AS V1,
           arg_max(score, created_at) FILTER (WHERE target = 'V2')       AS V2,
           arg_max(score, created_at) FILTER (WHERE target = 'V4')       AS V4,
           arg_max(score, created_at) FILTER (WHERE target = 'IT')       AS IT,
           arg_max(score, created_at) FILTER (WHERE target = 'behavior') AS behavior
    FROM layer_scores
    WHERE fold = 'pooled' AND target <> 'memorability'
    GROUP BY model_id, layer_name
),
memorability AS (
    SELECT model_id, layer_name, dataset_id, score FROM layer_memorability
),
pre AS (
    SELECT name, model_id FROM pretrained_models
),
resmem AS (
    SELECT dataset_id, split, arg_max(rho, created_at) AS rho
    FROM evaluations
    WHERE predictor_id LIKE 'resmem@%' AND part = 'test'
    GROUP BY dataset_id, split
)
SELECT
    r.model, r.dataset, r.split, r.status, r.epochs_done, r.epochs_planned, r.best_epoch,
    r.best_val_rho, r.stopped_early, r.test_rho, r.test_ci_low, r.test_ci_high,
    rm.rho                 AS resmem_test_rho,
    r.n_train, r.n_val, r.n_test, r.seconds,
    r.penultimate_layer,
    fm.score               AS penultimate_memorability,
    fb.V1, fb.V2, fb.V4, fb.IT, fb.behavior,
    pb.IT                  AS pretrained_IT,
    r.checkpoint, r.error, r.random_init, r.val_source,
    r.finetune_id, r.dataset_id, r.finetuned_model_id, pre.model_id AS pretrained_model_id,
    r.started_at, r.finished_at
FROM finetune_runs AS r
LEFT JOIN pre ON pre.name = r.model
-- a penultimate module that is an alias of its child (layers.alias_of) reads the child's scores
LEFT JOIN layers AS lf ON lf.model_id = r.finetuned_model_id AND lf.layer_name = r.penultimate_layer
LEFT JOIN layers AS lp ON lp.model_id = pre.model_id AND lp.layer_name = r.penultimate_layer
LEFT JOIN brain AS fb
  ON fb.model_id = r.finetuned_model_id AND fb.layer_name = coalesce(lf.alias_of, r.penultimate_layer)
LEFT JOIN brain AS pb
  ON pb.model_id = pre.model_id AND pb.layer_name = coalesce(lp.alias_of, r.penultimate_layer)
LEFT JOIN memorability AS fm
  ON fm.model_id = r.finetuned_model_id AND fm.layer_name = coalesce(lf.alias_of, r.penultimate_layer)
 AND fm.dataset_id = r.dataset_id
LEFT JOIN resmem AS rm ON rm.dataset_id = r.dataset_id AND rm.split = r.split
ORDER BY r.started_at DESC;
