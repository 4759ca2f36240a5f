-- brain_region_tracking_memorability: which region's similarity best tracks memorability
-- across layers? For each model (scope 'model') and over all models (scope 'pooled'), per
-- memorability setup: the brain target with the highest Spearman rho between memorability
-- and brain score across layers (from memorability_brain_partial), with its n, rho, partial
-- rho controlling for depth, the runner-up target and its rho, the target with the highest
-- partial rho, and how many targets were compared.
-- depends on: memorability_brain_partial
CREATE OR REPLACE VIEW brain_region_tracking_memorability AS
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY scope, model_id, memorability_setup_id
                           ORDER BY spearman DESC NULLS LAST, brain_target) AS by_rho,
        row_number() OVER (PARTITION BY scope, model_id, memorability_setup_id
                           ORDER BY partial_spearman DESC NULLS LAST, brain_target) AS by_partial,
        count(*) OVER (PARTITION BY scope, model_id, memorability_setup_id) AS n_targets
    FROM memorability_brain_partial
)
SELECT
    best.scope,
    best.model,
    best.memorability_dataset,
    best.reducer,
    best.region                 AS best_region,
    best.brain_target           AS best_target,
    best.n_layers,
    best.spearman,
    best.partial_spearman,
    second.brain_target         AS runner_up_target,
    second.spearman             AS runner_up_spearman,
    bp.brain_target             AS best_partial_target,
    bp.partial_spearman         AS best_partial_spearman,
    best.n_targets,
    best.model_id,
    best.memorability_setup_id
FROM ranked AS best
LEFT JOIN ranked AS second
  ON second.scope = best.scope AND second.model_id IS NOT DISTINCT FROM best.model_id
 AND second.memorability_setup_id = best.memorability_setup_id AND second.by_rho = 2
LEFT JOIN ranked AS bp
  ON bp.scope = best.scope AND bp.model_id IS NOT DISTINCT FROM best.model_id
 AND bp.memorability_setup_id = best.memorability_setup_id AND bp.by_partial = 1
WHERE best.by_rho = 1;
