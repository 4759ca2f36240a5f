-- latest_brain_scores: the latest pooled score of each model x layer x reducer x brain
-- target. A brain target is one target_id (brain_targets); a region such as IT may have
-- several (monkey IT and human IT), and they are never merged. This is the one place that
-- defines "the latest brain score per layer and target". region_choice = 1 marks, per model
-- x reducer x region, the target that views with one column per region (layer_scores_wide)
-- show: the one with the most layers scored, then the most recently scored, then by id, so
-- that such a column holds a single target's scores on every layer of a model.
CREATE OR REPLACE VIEW latest_brain_scores AS
WITH latest AS (
    SELECT
        model_id, layer_name, reducer, target AS region, dataset_id AS brain_target_id,
        arg_max(score, created_at)    AS score,
        arg_max(metric, created_at)   AS metric,
        arg_max(setup_id, created_at) AS setup_id,
        max(created_at)               AS created_at
    FROM layer_scores
    WHERE fold = 'pooled' AND target <> 'memorability'
    GROUP BY model_id, layer_name, reducer, target, dataset_id
),
choice AS (
    SELECT
        model_id, reducer, region, brain_target_id,
        row_number() OVER (PARTITION BY model_id, reducer, region
                           ORDER BY count(score) DESC, max(created_at) DESC, brain_target_id)
            AS region_choice
    FROM latest
    GROUP BY model_id, reducer, region, brain_target_id
)
SELECT l.*, c.region_choice
FROM latest AS l
JOIN choice AS c USING (model_id, reducer, region, brain_target_id);
