-- best_layer_per_model: for each model, data set and setup, the layer whose pooled
-- memorability rho is highest (ties: the shallower layer), with its CI, depth, the number
-- of layers scored and the data set's human ceiling.
-- depends on: layer_scores_wide
CREATE OR REPLACE VIEW best_layer_per_model AS
WITH ranked AS (
    SELECT
        w.*,
        count(*) OVER (PARTITION BY w.model_id, w.setup_id) AS n_layers_scored,
        row_number() OVER (
            PARTITION BY w.model_id, w.setup_id
            ORDER BY w.memorability DESC NULLS LAST, w.relative_depth, w.layer_index
        ) AS rank
    FROM layer_scores_wide AS w
    WHERE w.alias_of IS NULL
)
SELECT
    r.model, r.layer, r.relative_depth, r.module_type, r.dataset, r.reducer,
    r.memorability, r.memorability_ci_low, r.memorability_ci_high,
    r.V1, r.V2, r.V4, r.IT, r.n_layers_scored, d.ceiling AS human_ceiling,
    r.model_id, r.dataset_id, r.setup_id
FROM ranked AS r
JOIN datasets AS d USING (dataset_id)
WHERE r.rank = 1;
