"""What every model of a sweep shares: the data set, reducer, readout, device, brain targets.

``build_context`` validates the options and loads the data (no model yet); a Ray worker
rebuilds the same context from the config, so both engines score with identical inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memtool.errors import UsageError
from memtool.pipeline.config import TARGET, SweepConfig
from memtool.runtime import digest, resolve_device


@dataclass
class SweepContext:
    """What every model of a sweep shares; rebuilt from the config on each (Ray) worker."""

    config: SweepConfig
    dataset: object  # MemorabilityDataset
    dataset_id: str
    reducer: object  # Reducer
    readout: object  # ReadoutConfig
    setup_id: str
    device: object  # torch.device
    brain: list = field(default_factory=list)  # [(scoring.brain.BrainTarget, brain setup_id)]
    decoded: object = None  # memtool.data.images.DecodeCache shared by the sweep's models
    reference: object = None  # brainscore_pca.ReferenceSet when a target uses Brain-Score features

    def dataset_row(self) -> dict:
        ds = self.dataset
        scores = ds.scores
        return {
            "dataset_id": self.dataset_id,
            "name": ds.name,
            "kind": ds.kind,
            "spec": ds.spec,
            "root": str(ds.root),
            "n_images": len(ds.items),
            "n_splits": len(ds.splits),
            "split_kind": ds.split_kind,
            "ceiling": ds.ceiling,
            "citation": ds.citation,
            "options": ds.options,
            "score_mean": float(scores.mean()),
            "score_std": float(scores.std()),
        }

    def setup_row(self) -> dict:
        return {
            "setup_id": self.setup_id,
            "dataset_id": self.dataset_id,
            "reducer": self.reducer.spec,
            "readout": self.readout.describe(),
            "description": {"target": TARGET, "split_kind": self.dataset.split_kind},
        }

    def setups(self) -> list[tuple[str, str]]:
        """(setup_id, target) of every target the sweep scores: memorability, then brain."""
        return [(self.setup_id, TARGET)] + [(setup_id, t.region) for t, setup_id in self.brain]


def build_context(config: SweepConfig) -> SweepContext:
    """Validate options and load the data set (no model yet). Raises MemtoolError."""
    from memtool.data.images import DecodeCache
    from memtool.data.memorability import load_memorability
    from memtool.extract.reducers import make_reducer
    from memtool.scoring.readout import ReadoutConfig

    if config.checkpoint and len(config.models) != 1:
        raise UsageError(
            "--checkpoint applies to one model, but several were given", hint="run one sweep per checkpoint"
        )
    device = resolve_device(config.device)
    reducer = make_reducer(config.reducer, seed=config.seed)
    readout = ReadoutConfig(n_boot=config.n_boot, seed=config.seed)
    dataset = load_memorability(
        config.data,
        folds=config.folds,
        seed=config.seed,
        splits=config.splits,
        limit=config.limit,
        validate=True,
    )
    dataset_id = dataset.fingerprint()
    setup_id = digest(
        {"dataset": dataset_id, "reducer": reducer.spec, "readout": readout.describe(), "target": TARGET}
    )
    brain, reference = _brain_targets(config, reducer, device) if config.brain else ([], None)
    # decoded uint8 images are kept for later models/passes in a quarter of the budget
    decoded = DecodeCache(int(config.memory_budget_gb * 2**30 / 4))
    return SweepContext(
        config,
        dataset,
        dataset_id,
        reducer,
        readout,
        setup_id,
        device,
        brain,
        decoded=decoded,
        reference=reference,
    )


def _brain_targets(config: SweepConfig, reducer, device) -> tuple[list, object]:
    """The sweep's brain targets with their setup ids, and the Brain-Score reference set."""
    from memtool.scoring.brain import brain_setup_id, check_registry_specs, load_brain_targets

    check_registry_specs(config.brain)  # unknown benchmark ids first, then (before any
    reference = _brainscore_reference(config)  # data is loaded) the PCA reference images
    targets = load_brain_targets(
        config.brain,
        seed=config.seed,
        regression=config.brain_regression,
        impl=config.brain_regression_impl,
        device=device,
    )
    for t in targets:
        t.features = features_mode(config, kind=t.kind)
        if t.features == "brainscore" and reference is None:
            # a local-looking spec that turned out to be a registry id
            from memtool.extract.brainscore_pca import resolve_reference_images

            reference = resolve_reference_images(config.pca_images)
    return [(t, brain_setup_id(t, brain_features(t, reducer, reference)[0])) for t in targets], reference


def features_mode(config: SweepConfig, spec: str | None = None, kind: str | None = None) -> str:
    """``--brain-features``, else brainscore for registry targets and reducer for local data."""
    if config.brain_features is not None:
        return config.brain_features
    if kind is not None:
        return "brainscore" if kind == "registry" else "reducer"
    from memtool.scoring.brain import is_local_spec

    return "reducer" if is_local_spec(spec) else "brainscore"


def _brainscore_reference(config: SweepConfig):
    """The reference images of Brain-Score features, when a brain target uses them."""
    if not any(features_mode(config, spec=s) == "brainscore" for s in config.brain):
        return None
    from memtool.extract.brainscore_pca import resolve_reference_images

    return resolve_reference_images(config.pca_images)


def brain_features(target, reducer, reference) -> tuple[str, dict]:
    """The reducer spec a brain target's layers are scored with, and its brain_setups row."""
    if target.features == "brainscore":
        from memtool.extract.brainscore_pca import N_COMPONENTS, features_spec

        return features_spec(reference), {
            "features": "brainscore",
            "reference_set": reference.fingerprint,
            "reference_source": reference.source,
            "n_reference": len(reference.paths),
            "n_components": N_COMPONENTS,
        }
    return reducer.spec, {
        "features": "reducer",
        "reference_set": None,
        "reference_source": None,
        "n_reference": None,
        "n_components": None,
    }
