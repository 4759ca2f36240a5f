-- Fold-to-fold spread of the best layers (are the pooled numbers stable?).
SELECT m.name AS model, s.layer_name, round(avg(s.score), 3) AS mean_fold_rho,
       round(stddev(s.score), 3) AS sd_fold_rho, count(*) AS folds
FROM layer_scores s JOIN models m USING (model_id)
WHERE s.target = 'memorability' AND s.fold <> 'pooled'
GROUP BY ALL ORDER BY mean_fold_rho DESC LIMIT 20;
