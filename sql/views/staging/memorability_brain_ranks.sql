-- memorability_brain_ranks: staging view for the correlation views. Each layer with a
-- memorability rho, a brain score and a relative depth appears twice: once in scope
-- 'model' (ranked among the layers of its own model) and once in scope 'pooled' (model
-- '(all models)', ranked among the layers of every model scored with the same
-- memorability setup and brain target). Ranks are average ranks (ties share the mean
-- of their positions: the average_rank macro), as scipy.stats.rankdata gives.
-- depends on: brain_layer_scores
CREATE OR REPLACE VIEW memorability_brain_ranks AS
WITH base AS (
    SELECT 'model' AS scope, model, model_id, * EXCLUDE (model, model_id)
    FROM brain_layer_scores
    WHERE memorability IS NOT NULL AND brain IS NOT NULL AND relative_depth IS NOT NULL
    UNION ALL
    SELECT 'pooled' AS scope, '(all models)' AS model, NULL AS model_id,
           * EXCLUDE (model, model_id)
    FROM brain_layer_scores
    WHERE memorability IS NOT NULL AND brain IS NOT NULL AND relative_depth IS NOT NULL
)
SELECT
    *,
    average_rank(
        rank() OVER (PARTITION BY scope, model_id, memorability_setup_id, brain_setup_id, region
                     ORDER BY memorability),
        count(*) OVER (PARTITION BY scope, model_id, memorability_setup_id, brain_setup_id, region,
                                    memorability))                       AS rank_memorability,
    average_rank(
        rank() OVER (PARTITION BY scope, model_id, memorability_setup_id, brain_setup_id, region
                     ORDER BY brain),
        count(*) OVER (PARTITION BY scope, model_id, memorability_setup_id, brain_setup_id, region,
                                    brain))                       AS rank_brain,
    average_rank(
        rank() OVER (PARTITION BY scope, model_id, memorability_setup_id, brain_setup_id, region
                     ORDER BY relative_depth),
        count(*) OVER (PARTITION BY scope, model_id, memorability_setup_id, brain_setup_id, region,
                                    relative_depth))                       AS rank_depth
FROM base;
