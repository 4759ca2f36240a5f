"""Correlations across layers: kept as an import path for code written against it.

The statistics live in ``memtool.scoring.stats`` (one module for every correlation,
partial correlation and bootstrap); these are the same functions under their old names.
"""

from memtool.scoring.stats import (
    Correlation,
    correlate_across_layers,
    partial_spearman,
)
from memtool.scoring.stats import pearson_finite as pearson
from memtool.scoring.stats import spearman_finite as spearman

__all__ = ["Correlation", "correlate_across_layers", "partial_spearman", "pearson", "spearman"]
