-- Memorability by depth decile, pooled over models: where does the signal appear?
SELECT floor(relative_depth * 10) / 10 AS depth_bin, count(*) AS layers,
       round(avg(memorability), 3) AS mean_rho, round(max(memorability), 3) AS max_rho
FROM layer_scores_wide
WHERE alias_of IS NULL
GROUP BY ALL ORDER BY depth_bin;
