-- layer_scores_wide: one row per model x layer x memorability setup (data set + reducer +
-- readout), with each target as a column: memorability rho with its 95% CI, and the brain
-- targets V1, V2, V4, IT and behaviour scored with the same reducer (the latest such score;
-- NULL when not scored). Layers whose output is the same tensor as another layer's
-- (alias_of) carry that layer's scores.
CREATE OR REPLACE VIEW layer_scores_wide AS
WITH memorability AS (
    SELECT
        model_id, layer, setup_id,
        any_value(model)      AS model,
        any_value(dataset_id) AS dataset_id,
        any_value(dataset)    AS dataset,
        any_value(reducer)    AS reducer,
        any_value(score)      AS memorability,
        any_value(ci_low)     AS memorability_ci_low,
        any_value(ci_high)    AS memorability_ci_high,
        any_value(n_features) AS n_features
    FROM layer_scores_pooled
    WHERE target = 'memorability'
    GROUP BY model_id, layer, setup_id
),
brain AS (
    SELECT
        model_id, layer, reducer,
        arg_max(score, created_at) FILTER (WHERE target = 'V1')       AS V1,
        arg_max(score, created_at) FILTER (WHERE target = 'V2')       AS V2,
        arg_max(score, created_at) FILTER (WHERE target = 'V4')       AS V4,
        arg_max(score, created_at) FILTER (WHERE target = 'IT')       AS IT,
        arg_max(score, created_at) FILTER (WHERE target = 'behavior') AS behavior
    FROM layer_scores_pooled
    WHERE target <> 'memorability'
    GROUP BY model_id, layer, reducer
)
SELECT
    m.model, l.layer_name AS layer, l.layer_index, l.relative_depth, l.module_type,
    l.output_shape, l.alias_of,
    m.dataset, m.reducer, m.memorability, m.memorability_ci_low, m.memorability_ci_high,
    b.V1, b.V2, b.V4, b.IT, b.behavior, m.n_features,
    l.model_id, m.dataset_id, m.setup_id
FROM layers AS l
JOIN memorability AS m
  ON m.model_id = l.model_id AND m.layer = coalesce(l.alias_of, l.layer_name)
LEFT JOIN brain AS b
  ON b.model_id = l.model_id AND b.layer = m.layer AND b.reducer = m.reducer;
