-- finetune_brain_relation: does the brain similarity of a model's penultimate layer predict
-- how well it does at memorability? One row per data set x split x brain target, across
-- models (rows of finetune_penultimate_scores):
--   finetuned_*           fine-tuned test rho vs the fine-tuned penultimate layer's score;
--   from_pretrained_*     fine-tuned test rho vs the *pretrained* penultimate layer's score;
--   pretrained_best_*     the pretrained models' best-layer memorability rho vs their
--                         penultimate layer's score;
--   pretrained_penult_*   the pretrained penultimate layer's memorability rho vs its score.
-- Each relation: n (models with both numbers), Spearman's rho across models (average ranks
-- for ties; NULL for n < 3) and a 95% CI from Fisher's z, tanh(atanh(rho) +- 1.96 /
-- sqrt(n - 3)) (NULL for n <= 3 or |rho| = 1), as memorability_brain_correlation does.
-- depends on: finetune_penultimate_scores
CREATE OR REPLACE VIEW finetune_brain_relation AS
WITH pairs AS (
    SELECT dataset, dataset_id, split, region, brain_target_id, 'finetuned' AS relation,
           test_rho AS x, finetuned_similarity AS y
    FROM finetune_penultimate_scores
    UNION ALL
    SELECT dataset, dataset_id, split, region, brain_target_id, 'from_pretrained',
           test_rho, pretrained_similarity
    FROM finetune_penultimate_scores
    UNION ALL
    SELECT dataset, dataset_id, split, region, brain_target_id, 'pretrained_best',
           pretrained_best_rho, pretrained_similarity
    FROM finetune_penultimate_scores
    UNION ALL
    SELECT dataset, dataset_id, split, region, brain_target_id, 'pretrained_penult',
           pretrained_penultimate_rho, pretrained_similarity
    FROM finetune_penultimate_scores
),
ranked AS (
    SELECT
        *,
        average_rank(
            rank() OVER (PARTITION BY dataset_id, split, region, brain_target_id, relation ORDER BY x),
            count(*) OVER (PARTITION BY dataset_id, split, region, brain_target_id, relation, x)) AS rx,
        average_rank(
            rank() OVER (PARTITION BY dataset_id, split, region, brain_target_id, relation ORDER BY y),
            count(*) OVER (PARTITION BY dataset_id, split, region, brain_target_id, relation, y)) AS ry
    FROM pairs
    WHERE x IS NOT NULL AND y IS NOT NULL
),
agg AS (
    SELECT dataset, dataset_id, split, region, brain_target_id, relation,
           count(*) AS n,
           CASE WHEN count(*) >= 3 THEN corr(rx, ry) END AS rho
    FROM ranked
    GROUP BY dataset, dataset_id, split, region, brain_target_id, relation
),
ci AS (
    SELECT *,
           fisher_ci_low(rho, n, 3)  AS ci_low,
           fisher_ci_high(rho, n, 3) AS ci_high
    FROM agg
),
keys AS (
    SELECT DISTINCT dataset, dataset_id, split, region, brain_target_id
    FROM finetune_penultimate_scores
)
SELECT
    k.dataset, k.split, k.region, k.brain_target_id,
    coalesce(f.n, 0)  AS finetuned_n,  f.rho AS finetuned_rho,  f.ci_low AS finetuned_ci_low,  f.ci_high AS finetuned_ci_high,
    coalesce(fp.n, 0) AS from_pretrained_n, fp.rho AS from_pretrained_rho,
    fp.ci_low AS from_pretrained_ci_low, fp.ci_high AS from_pretrained_ci_high,
    coalesce(pb.n, 0) AS pretrained_best_n, pb.rho AS pretrained_best_rho,
    pb.ci_low AS pretrained_best_ci_low, pb.ci_high AS pretrained_best_ci_high,
    coalesce(pp.n, 0) AS pretrained_penult_n, pp.rho AS pretrained_penult_rho,
    pp.ci_low AS pretrained_penult_ci_low, pp.ci_high AS pretrained_penult_ci_high,
    k.dataset_id
FROM keys AS k
LEFT JOIN ci AS f  ON f.relation = 'finetuned'         AND f.dataset_id = k.dataset_id  AND f.split = k.split  AND f.region = k.region  AND f.brain_target_id = k.brain_target_id
LEFT JOIN ci AS fp ON fp.relation = 'from_pretrained'  AND fp.dataset_id = k.dataset_id AND fp.split = k.split AND fp.region = k.region AND fp.brain_target_id = k.brain_target_id
LEFT JOIN ci AS pb ON pb.relation = 'pretrained_best'  AND pb.dataset_id = k.dataset_id AND pb.split = k.split AND pb.region = k.region AND pb.brain_target_id = k.brain_target_id
LEFT JOIN ci AS pp ON pp.relation = 'pretrained_penult' AND pp.dataset_id = k.dataset_id AND pp.split = k.split AND pp.region = k.region AND pp.brain_target_id = k.brain_target_id;
