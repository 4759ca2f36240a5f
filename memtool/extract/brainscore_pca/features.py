"""The reducer of fitted layers, and what the sweep records about Brain-Score features."""

from __future__ import annotations

import numpy as np

from memtool.errors import UsageError
from memtool.extract.brainscore_pca.pca import Components
from memtool.extract.brainscore_pca.reference import N_COMPONENTS, ReferenceSet
from memtool.extract.reducers import Reducer

FEATURE_MODES = ("brainscore", "reducer")


# -- the reducer ------------------------------------------------------------------------------


class BrainscoreFeatures(Reducer):
    """Reducer of fitted layers: flatten, subtract the reference mean, project (on device)."""

    def __init__(
        self, fits: dict[str, Components], reference: ReferenceSet, n_components: int = N_COMPONENTS
    ):
        self.fits = fits
        self.n_components = n_components
        self.reference = reference

    @property
    def spec(self) -> str:  # type: ignore[override]
        return features_spec(self.reference, self.n_components)

    def out_dim(self, shape):
        d = int(np.prod(shape))
        return min(d, self.n_components)

    def reduce(self, layer, x):
        flat = x.reshape(x.shape[0], -1).float()
        fit = self.fits[layer]
        if fit.vectors is None:
            return flat
        return (flat - fit.mean) @ fit.vectors.T


def features_spec(reference: ReferenceSet, n_components: int = N_COMPONENTS) -> str:
    """The ``reducer`` recorded for brain scores computed on Brain-Score features."""
    return f"brainscore-pca:{n_components}@{reference.fingerprint}"


def check_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in FEATURE_MODES:
        raise UsageError(
            f"unknown --brain-features '{mode}'",
            hint="use brainscore (Brain-Score's PCA-1000 features) or reducer (the sweep's --reducer)",
        )
    return mode
