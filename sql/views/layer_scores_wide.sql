-- layer_scores_wide: one row per model x layer x memorability setup (data set + reducer +
-- readout), with each target as a column: memorability rho with its 95% CI, and the brain
-- regions V1, V2, V4, IT and behaviour scored with the same reducer (NULL when not scored).
-- A region column holds one brain target's scores on every layer of a model (the target
-- latest_brain_scores chooses for the region, model and reducer), never a mix of two
-- targets of one region; brain_layer_scores has every target in long form. Layers whose
-- output is the same tensor as another layer's (alias_of) carry that layer's scores.
-- depends on: latest_brain_scores, layer_scores_pooled
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
        model_id, layer_name AS layer, reducer,
        any_value(score) FILTER (WHERE region = 'V1')       AS V1,
        any_value(score) FILTER (WHERE region = 'V2')       AS V2,
        any_value(score) FILTER (WHERE region = 'V4')       AS V4,
        any_value(score) FILTER (WHERE region = 'IT')       AS IT,
        any_value(score) FILTER (WHERE region = 'behavior') AS behavior
    FROM latest_brain_scores
    WHERE region_choice = 1
    GROUP BY model_id, layer_name, reducer
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
