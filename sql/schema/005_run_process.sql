-- Which process runs a sweep, so that a later sweep on the same host can tell a run whose
-- process was killed (kill -9, OOM, power loss) from one that is still going.
ALTER TABLE runs ADD COLUMN pid INTEGER;
