-- memtool results store, version 7: which features a brain setup scored layers on.
-- Released schema files are never edited; a change is a new numbered file.
--
-- A brain setup (layer_scores.setup_id of brain rows) is a brain target plus the features
-- its layers were scored on: 'brainscore' = Brain-Score's own (the flattened layer
-- projected onto 1000 principal components fitted on 1000 reference images, whole image
-- resized to the input size, as brainscore-vision's LayerPCA / LayerScores do), or
-- 'reducer' = the sweep's --reducer (pool, rp:K, pca:K). Setups written before this file
-- have no row here; they were all 'reducer'.

CREATE TABLE IF NOT EXISTS brain_setups (
    setup_id         VARCHAR PRIMARY KEY,   -- layer_scores.setup_id / brain_scores.setup_id
    target_id        VARCHAR NOT NULL,      -- brain_targets.target_id
    reducer          VARCHAR NOT NULL,      -- layer_scores.reducer: brainscore-pca:1000@<fingerprint> or the reducer spec
    features         VARCHAR NOT NULL,      -- brainscore | reducer
    reference_set    VARCHAR,               -- digest of the PCA reference images' bytes (brainscore mode)
    reference_source VARCHAR,               -- where they came from (ImageNet val via MT_IMAGENET_PATH, a folder)
    n_reference      INTEGER,               -- number of reference images (1000)
    n_components     INTEGER,               -- PCA components (1000; layers with fewer features pass unreduced)
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
