-- layer_scores_pooled: one row per model x layer x data set x setup x target, the pooled
-- (all folds / splits) score, with the layer's depth and type and the model's name.
-- Staging view for the others; read it when you want every target in long form.
CREATE OR REPLACE VIEW layer_scores_pooled AS
SELECT
    s.run_id,
    s.model_id,
    m.name              AS model,
    s.layer_name        AS layer,
    l.layer_index,
    l.relative_depth,
    l.module_type,
    l.output_shape,
    s.dataset_id,
    d.name              AS dataset,
    s.setup_id,
    s.reducer,
    s.target,
    s.metric,
    s.score,
    s.ci_low,
    s.ci_high,
    s.n_features,
    s.n_test,
    s.created_at
FROM layer_scores AS s
JOIN models   AS m USING (model_id)
JOIN layers   AS l ON l.model_id = s.model_id AND l.layer_name = s.layer_name
JOIN datasets AS d USING (dataset_id)
WHERE s.fold = 'pooled';
