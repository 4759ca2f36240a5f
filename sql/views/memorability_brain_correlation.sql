-- memorability_brain_correlation: do the layers that predict memorability also score as
-- brain-like? For each model (scope 'model') and over the layers of all models together
-- (scope 'pooled', model '(all models)'), per memorability setup and brain target: the
-- number of layers n, Spearman's rho across layers between memorability rho and the brain
-- score, its 95% CI from Fisher's z (tanh(atanh(rho) +- 1.96 / sqrt(n - 3)); NULL for
-- n <= 3 or |rho| = 1), and Pearson's r. `memtool analyze` adds a bootstrap CI over layers
-- (memtool.scoring.stats.correlate_across_layers). Depth drives both scores: see
-- memorability_brain_partial for the correlation that controls for it.
-- depends on: memorability_brain_ranks
CREATE OR REPLACE VIEW memorability_brain_correlation AS
WITH agg AS (
    SELECT
        scope, model, memorability_dataset, reducer, region, brain_target, brain_metric,
        count(*)                                   AS n_layers,
        corr(rank_memorability, rank_brain)        AS spearman,
        corr(memorability, brain)                  AS pearson,
        model_id, memorability_dataset_id, memorability_setup_id, brain_target_id, brain_setup_id
    FROM memorability_brain_ranks
    GROUP BY scope, model, model_id, memorability_dataset, memorability_dataset_id,
             memorability_setup_id, reducer, region, brain_target, brain_metric,
             brain_target_id, brain_setup_id
)
SELECT
    scope, model, memorability_dataset, reducer, region, brain_target, brain_metric, n_layers,
    spearman,
    fisher_ci_low(spearman, n_layers, 3)  AS spearman_ci_low,
    fisher_ci_high(spearman, n_layers, 3) AS spearman_ci_high,
    pearson,
    model_id, memorability_dataset_id, memorability_setup_id, brain_target_id, brain_setup_id
FROM agg;
