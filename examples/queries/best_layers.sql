-- The best layer of each model, with the human ceiling of the data set.
SELECT model, layer, round(relative_depth, 2) AS depth, round(memorability, 3) AS rho,
       round(memorability_ci_low, 3) AS lo, round(memorability_ci_high, 3) AS hi, human_ceiling
FROM best_layer_per_model
ORDER BY memorability DESC;
