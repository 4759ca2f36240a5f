-- pretrained_models: for each model name, the newest model row with pretrained weights
-- (not a checkpoint file, not random init). Staging view for the fine-tuning views, which
-- compare a fine-tuned model with the pretrained model it started from.
CREATE OR REPLACE VIEW pretrained_models AS
SELECT name, model_id
FROM models
WHERE source <> 'checkpoint' AND weights_source NOT LIKE 'checkpoint:%'
  AND weights_source <> 'random-init'
QUALIFY row_number() OVER (PARTITION BY name ORDER BY created_at DESC, model_id) = 1;
