-- macros: the expressions the views share, written once as DuckDB macros. memtool applies
-- this file before the views (sql/views/staging/, then sql/views/), every time it opens a
-- store for writing, so any view may call them.
--   average_rank(r, ties)       average rank from rank() and the number of tied values:
--                               ties share the mean of the positions they span, as
--                               scipy.stats.rankdata gives (memtool.scoring.stats ranks so too)
--   fisher_ci_low(r, n, k),     95% interval of a correlation r of n pairs from Fisher's z,
--   fisher_ci_high(r, n, k)     tanh(atanh(r) -/+ 1.959964 / sqrt(n - k)); k = 3 for a plain
--                               correlation, 4 for a first-order partial one; NULL for
--                               n <= k or |r| = 1
--   partial_corr(r_xy, r_xz, r_yz)
--                               first-order partial correlation of x and y given z; NULL when
--                               x or y is perfectly correlated with z
CREATE OR REPLACE MACRO average_rank(r, ties) AS r + (ties - 1) / 2.0;

CREATE OR REPLACE MACRO fisher_ci_low(r, n, k) AS
    CASE WHEN n > k AND abs(r) < 1 THEN tanh(atanh(r) - 1.959963984540054 / sqrt(n - k)) END;

CREATE OR REPLACE MACRO fisher_ci_high(r, n, k) AS
    CASE WHEN n > k AND abs(r) < 1 THEN tanh(atanh(r) + 1.959963984540054 / sqrt(n - k)) END;

CREATE OR REPLACE MACRO partial_corr(r_xy, r_xz, r_yz) AS
    CASE WHEN (1 - r_xz * r_xz) * (1 - r_yz * r_yz) > 0
         THEN (r_xy - r_xz * r_yz) / sqrt((1 - r_xz * r_xz) * (1 - r_yz * r_yz)) END;
