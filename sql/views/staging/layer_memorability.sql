-- layer_memorability: one pooled memorability rho per model x layer x data set, whatever
-- the setup: the default reducer (pool) is preferred, then the newest score. Staging view
-- for the fine-tuning views, which look up a single layer's score per model and data set.
CREATE OR REPLACE VIEW layer_memorability AS
SELECT model_id, layer_name, dataset_id, score
FROM layer_scores
WHERE fold = 'pooled' AND target = 'memorability'
QUALIFY row_number() OVER (PARTITION BY model_id, layer_name, dataset_id
                           ORDER BY (reducer = 'pool') DESC, created_at DESC) = 1;
