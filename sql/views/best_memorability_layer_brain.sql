-- best_memorability_layer_brain: is the layer that best predicts memorability also a
-- brain-like layer? For each model and memorability setup, the layer with the highest
-- pooled memorability rho (ties: the shallower layer) and, per brain target scored with
-- the same reducer, that layer's brain score, its rank among the model's layers for that
-- target (1 = most brain-like; brain_percentile 1 = best, 0 = worst) and the model's most
-- brain-like layer for the target with its score, for comparison.
-- depends on: layer_scores_pooled
CREATE OR REPLACE VIEW best_memorability_layer_brain AS
WITH mem AS (
    SELECT
        model, model_id, layer, relative_depth, dataset, dataset_id, setup_id, reducer,
        score AS memorability,
        count(*) OVER (PARTITION BY model_id, setup_id) AS n_layers,
        row_number() OVER (PARTITION BY model_id, setup_id
                           ORDER BY score DESC NULLS LAST, relative_depth, layer_index) AS r
    FROM layer_scores_pooled
    WHERE target = 'memorability'
),
brain AS (
    SELECT
        model_id, layer, reducer, target AS region, metric, score, dataset_id, setup_id,
        rank() OVER w                                       AS brain_rank,
        count(score) OVER (PARTITION BY model_id, setup_id, target) AS n_brain_layers,
        first_value(layer) OVER w                           AS best_brain_layer,
        first_value(score) OVER w                           AS best_brain_score
    FROM layer_scores_pooled
    WHERE target <> 'memorability'
    WINDOW w AS (PARTITION BY model_id, setup_id, target
                 ORDER BY score DESC NULLS LAST, relative_depth, layer_index)
)
SELECT
    m.model,
    m.layer                                   AS best_memorability_layer,
    m.relative_depth,
    m.memorability,
    m.n_layers,
    m.dataset                                 AS memorability_dataset,
    m.reducer,
    b.region,
    coalesce(t.name, b.region)                AS brain_target,
    b.metric                                  AS brain_metric,
    b.score                                   AS brain,
    CASE WHEN b.score IS NOT NULL THEN b.brain_rank END AS brain_rank,
    b.n_brain_layers,
    CASE WHEN b.score IS NOT NULL AND b.n_brain_layers > 1
         THEN 1 - (b.brain_rank - 1) / (b.n_brain_layers - 1) END AS brain_percentile,
    b.best_brain_layer,
    b.best_brain_score,
    m.model_id,
    m.dataset_id                              AS memorability_dataset_id,
    m.setup_id                                AS memorability_setup_id,
    b.dataset_id                              AS brain_target_id,
    b.setup_id                                AS brain_setup_id
FROM mem AS m
LEFT JOIN brain AS b
  ON b.model_id = m.model_id AND b.layer = m.layer AND b.reducer = m.reducer
LEFT JOIN brain_targets AS t ON t.target_id = b.dataset_id
WHERE m.r = 1;
