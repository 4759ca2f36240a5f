-- finetune_penultimate_scores: staging view for the fine-tuned-models study. One row per
-- fine-tuned model x brain target (region + brain_target_id), using the latest completed
-- fine-tuning run per model x data set x split: the fine-tuned model's test rho with its CI;
-- the brain score of the penultimate layer (the layer feeding the head) of the fine-tuned
-- checkpoint and of the pretrained model it started from; and, for the pretrained model on
-- the same data set, the memorability rho of its best layer and of its penultimate layer
-- (reducer 'pool' preferred when several were swept). The pretrained model is the latest
-- registered non-checkpoint, non-random model of the same name. Brain scores are the latest
-- pooled layer_scores row of each model x layer x region x brain target (a penultimate
-- module that is an alias of its child reads the child's scores); NULL where the sweep did
-- not score that layer for that target.
-- depends on: best_layer_per_model, latest_brain_scores, layer_memorability, pretrained_models
CREATE OR REPLACE VIEW finetune_penultimate_scores AS
WITH ft AS (
    SELECT *
    FROM finetune_runs
    WHERE status = 'completed' AND test_rho IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY model, dataset_id, split
                               ORDER BY finished_at DESC, finetune_id) = 1
),
pre AS (
    SELECT name, model_id FROM pretrained_models
),
runs AS (
    -- The penultimate module may share its output tensor with a child (timm's global_pool
    -- returns its flatten's output): the sweep then stores the score under that child
    -- (layers.alias_of), as layer_scores_wide resolves it.
    SELECT ft.*, pre.model_id AS pretrained_model_id,
           coalesce(lf.alias_of, ft.penultimate_layer) AS finetuned_layer,
           coalesce(lp.alias_of, ft.penultimate_layer) AS pretrained_layer
    FROM ft
    LEFT JOIN pre ON pre.name = ft.model
    LEFT JOIN layers AS lf ON lf.model_id = ft.finetuned_model_id AND lf.layer_name = ft.penultimate_layer
    LEFT JOIN layers AS lp ON lp.model_id = pre.model_id AND lp.layer_name = ft.penultimate_layer
),
brain AS (  -- the latest over reducers of latest_brain_scores' per-reducer scores
    SELECT model_id, layer_name, region, brain_target_id, arg_max(score, created_at) AS score
    FROM latest_brain_scores
    GROUP BY model_id, layer_name, region, brain_target_id
),
memorability AS (
    SELECT model_id, layer_name, dataset_id, score FROM layer_memorability
),
best AS (
    SELECT model_id, dataset_id, layer AS best_layer, memorability AS best_rho
    FROM best_layer_per_model
    QUALIFY row_number() OVER (PARTITION BY model_id, dataset_id
                               ORDER BY (reducer = 'pool') DESC, reducer) = 1
),
targets AS (
    SELECT DISTINCT r.finetune_id, b.region, b.brain_target_id
    FROM runs AS r
    JOIN brain AS b
      ON (b.model_id = r.finetuned_model_id AND b.layer_name = r.finetuned_layer)
      OR (b.model_id = r.pretrained_model_id AND b.layer_name = r.pretrained_layer)
)
SELECT
    r.model,
    r.dataset,
    r.split,
    t.region,
    t.brain_target_id,
    r.test_rho,
    r.test_ci_low,
    r.test_ci_high,
    fb.score             AS finetuned_similarity,
    pb.score             AS pretrained_similarity,
    bl.best_rho          AS pretrained_best_rho,
    bl.best_layer        AS pretrained_best_layer,
    pm.score             AS pretrained_penultimate_rho,
    r.penultimate_layer,
    r.finetune_id,
    r.dataset_id,
    r.finetuned_model_id,
    r.pretrained_model_id
FROM runs AS r
JOIN targets AS t USING (finetune_id)
LEFT JOIN brain AS fb
  ON fb.model_id = r.finetuned_model_id AND fb.layer_name = r.finetuned_layer
 AND fb.region = t.region AND fb.brain_target_id = t.brain_target_id
LEFT JOIN brain AS pb
  ON pb.model_id = r.pretrained_model_id AND pb.layer_name = r.pretrained_layer
 AND pb.region = t.region AND pb.brain_target_id = t.brain_target_id
LEFT JOIN best AS bl
  ON bl.model_id = r.pretrained_model_id AND bl.dataset_id = r.dataset_id
LEFT JOIN memorability AS pm
  ON pm.model_id = r.pretrained_model_id AND pm.layer_name = r.pretrained_layer
 AND pm.dataset_id = r.dataset_id;
