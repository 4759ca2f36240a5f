-- Runs, with how long each took and what failed.
SELECT run_id, status, started_at, round(duration_s) AS seconds, n_models, n_layers_scored, error
FROM run_overview ORDER BY started_at DESC;
