-- Which module types carry memorability information?
SELECT module_type, count(*) AS layers, round(avg(memorability), 3) AS mean_rho
FROM layer_scores_wide
WHERE alias_of IS NULL
GROUP BY ALL HAVING count(*) >= 5 ORDER BY mean_rho DESC;
