-- memorability_brain_partial: the memorability-vs-brain correlation across layers with
-- relative layer depth held fixed. Deeper layers tend to be both better memorability
-- predictors and more IT-like, so a plain correlation can be depth alone. Per scope
-- ('model' or 'pooled'), memorability setup and brain target: Spearman's rho, the partial
-- Spearman correlation controlling for depth (first-order partial correlation of the
-- average ranks: (r_mb - r_md r_bd) / sqrt((1 - r_md^2)(1 - r_bd^2))), its 95% Fisher-z
-- CI (standard error 1 / sqrt(n - 4); NULL for n <= 4), and the rank correlations of
-- memorability and of the brain score with depth. memtool.scoring.stats.partial_spearman
-- computes the same number; `memtool analyze` adds a bootstrap CI.
-- depends on: memorability_brain_ranks
CREATE OR REPLACE VIEW memorability_brain_partial AS
WITH agg AS (
    SELECT
        scope, model, memorability_dataset, reducer, region, brain_target, brain_metric,
        count(*)                                  AS n_layers,
        corr(rank_memorability, rank_brain)       AS r_mb,
        corr(rank_memorability, rank_depth)       AS r_md,
        corr(rank_brain, rank_depth)              AS r_bd,
        model_id, memorability_dataset_id, memorability_setup_id, brain_target_id, brain_setup_id
    FROM memorability_brain_ranks
    GROUP BY scope, model, model_id, memorability_dataset, memorability_dataset_id,
             memorability_setup_id, reducer, region, brain_target, brain_metric,
             brain_target_id, brain_setup_id
),
partial AS (
    SELECT
        *,
        CASE WHEN n_layers > 3 THEN partial_corr(r_mb, r_md, r_bd) END AS partial_spearman
    FROM agg
)
SELECT
    scope, model, memorability_dataset, reducer, region, brain_target, brain_metric, n_layers,
    r_mb AS spearman,
    partial_spearman,
    fisher_ci_low(partial_spearman, n_layers, 4)  AS partial_ci_low,
    fisher_ci_high(partial_spearman, n_layers, 4) AS partial_ci_high,
    r_md AS memorability_depth_spearman,
    r_bd AS brain_depth_spearman,
    model_id, memorability_dataset_id, memorability_setup_id, brain_target_id, brain_setup_id
FROM partial;
