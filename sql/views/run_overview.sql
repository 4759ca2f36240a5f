-- run_overview: one row per run with its status, duration, models and layers scored.
CREATE OR REPLACE VIEW run_overview AS
SELECT
    r.run_id, r.kind, r.status, r.started_at, r.finished_at,
    date_diff('millisecond', r.started_at, coalesce(r.finished_at, r.started_at)) / 1000.0
        AS duration_s,
    count(DISTINCT s.model_id)                                      AS n_models,
    count(DISTINCT s.model_id || '/' || s.layer_name)               AS n_layers_scored,
    r.command, r.memtool_version, r.device, r.error
FROM runs AS r
LEFT JOIN layer_scores AS s ON s.run_id = r.run_id AND s.fold = 'pooled'
GROUP BY ALL;
