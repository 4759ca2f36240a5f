"""Scoring: rank statistics with bootstrap intervals, and the per-layer ridge readout.

``stats`` holds Spearman's rho and its vectorised bootstrap; ``readout`` fits a
cross-validated ridge regression from one layer's features to human memorability
scores and reports held-out Spearman accuracy per split and pooled.
"""
