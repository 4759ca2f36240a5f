-- brain_layer_scores: long form of "memorability next to brain similarity", one row per
-- model x layer x memorability setup x brain target (same model, layer and reducer).
-- memorability is the pooled Spearman rho of the layer's readout; brain is the layer's
-- stored brain score (the ceiled score when the target has a ceiling, else the raw one:
-- see brain_score_kind), with brainscore's raw score, ceiling and error beside it. Only
-- layers scored for both appear. The analysis views below are built on this one.
-- depends on: layer_scores_pooled
CREATE OR REPLACE VIEW brain_layer_scores AS
SELECT
    m.model,
    m.layer,
    m.layer_index,
    m.relative_depth,
    m.module_type,
    m.dataset                            AS memorability_dataset,
    m.reducer,
    m.score                              AS memorability,
    b.target                             AS region,
    coalesce(t.name, b.target)           AS brain_target,
    b.metric                             AS brain_metric,
    b.score                              AS brain,
    coalesce(t.score_kind, 'raw')        AS brain_score_kind,
    d.raw                                AS brain_raw,
    d.ceiling                            AS brain_ceiling,
    d.ceiled                             AS brain_ceiled,
    d.error                              AS brain_error,
    m.model_id,
    m.dataset_id                         AS memorability_dataset_id,
    m.setup_id                           AS memorability_setup_id,
    b.dataset_id                         AS brain_target_id,
    b.setup_id                           AS brain_setup_id
FROM layer_scores_pooled AS m
JOIN layer_scores_pooled AS b
  ON b.model_id = m.model_id AND b.layer = m.layer AND b.reducer = m.reducer
 AND b.target <> 'memorability'
LEFT JOIN brain_targets AS t ON t.target_id = b.dataset_id
LEFT JOIN brain_scores  AS d
  ON d.model_id = b.model_id AND d.layer_name = b.layer AND d.setup_id = b.setup_id
WHERE m.target = 'memorability';
