"""The models memtool hands to brainscore-vision benchmarks (``BrainModel`` subclasses).

* the probe records the region, task and stimuli a benchmark asks for, then stops the
  benchmark at ``look_at`` (``Probed``), so the sweep learns which images to extract;
* the layer model answers every recording with one layer's precomputed features, and a
  behavioural task with brainscore's own ``ProbabilitiesMapping`` fitted on that layer.

``brainscore_vision`` is imported when a model is made, never at import time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memtool.brainscore_env import import_brainscore
from memtool.errors import DataError, UsageError

VISUAL_DEGREES = 8  # the field of view Brain-Score's model commitments assume


class Probed(Exception):
    """Raised by the probe model to stop a benchmark once it has shown its stimuli."""


def stimulus_paths(stimuli) -> list[str]:
    """The image files of a StimulusSet (or of a plain list of paths), in order."""
    if hasattr(stimuli, "get_stimulus"):
        return [str(stimuli.get_stimulus(sid)) for sid in stimuli["stimulus_id"].values]
    return [str(p) for p in stimuli]


def _brain_model_base():
    import_brainscore()
    from brainscore_vision.model_interface import BrainModel

    return BrainModel


def make_probe():
    BrainModel = _brain_model_base()

    class Probe(BrainModel):
        """Records the region, task and stimuli a benchmark asks for; stops at look_at."""

        identifier = "memtool-probe"

        def __init__(self):
            self.region = None
            self.task = None
            self.fitting_stimuli = None
            self.stimuli = None

        def visual_degrees(self):
            return VISUAL_DEGREES

        def start_recording(self, recording_target, time_bins=None, **kwargs):
            self.region = str(recording_target)

        def start_task(self, task, fitting_stimuli=None, *args, **kwargs):
            self.task = task
            self.fitting_stimuli = fitting_stimuli

        def look_at(self, stimuli, number_of_trials=1, **kwargs):
            self.stimuli = stimuli
            raise Probed()

    return Probe()


def make_layer_model(name: str, layer: str, features: np.ndarray, rows: dict[str, int]):
    """A BrainModel whose recordings (any region) are the given features of one layer."""
    BrainModel = _brain_model_base()
    from brainscore_core.supported_data_standards.brainio.assemblies import (
        NeuroidAssembly,
    )

    class LayerModel(BrainModel):
        def __init__(self):
            self._mapping = None

        @property
        def identifier(self):
            return f"{name}:{layer}"

        def visual_degrees(self):
            return VISUAL_DEGREES

        def start_recording(self, recording_target, time_bins=None, **kwargs):
            self._mapping = None

        def start_task(self, task, fitting_stimuli=None, *args, **kwargs):
            if task == BrainModel.Task.passive:
                self._mapping = None
                return
            if task != BrainModel.Task.probabilities:
                raise UsageError(
                    f"benchmark asks for task '{task}', which a layer readout cannot do",
                    hint="use neural benchmarks or Rajalingham2018public-i2n",
                )
            from brainscore_vision.model_helpers.brain_transformation.behavior import (
                ProbabilitiesMapping,
            )

            self._mapping = ProbabilitiesMapping(
                self.identifier, activations_model=self.activations, layer=layer
            )
            self._mapping.start_task(task, fitting_stimuli)

        def look_at(self, stimuli, number_of_trials=1, require_variance=False, **kwargs):
            if self._mapping is not None:
                return self._mapping.look_at(stimuli, number_of_trials=number_of_trials)
            return self.activations(stimuli)

        def activations(self, stimuli, layers=None, number_of_trials=1, require_variance=False):
            """The layer's features for ``stimuli`` as brainscore's model helpers package them."""
            paths = stimulus_paths(stimuli)
            missing = [p for p in paths if p not in rows]
            if missing:
                raise DataError(
                    f"the benchmark showed {len(missing)} images that memtool did not "
                    f"extract (first: {missing[0]})",
                    hint="benchmarks that present several stimulus sets are not supported",
                )
            values = features[[rows[p] for p in paths]]
            k = values.shape[1]
            coords: dict[str, Any] = {}
            if hasattr(stimuli, "columns"):
                for column in stimuli.columns:
                    coords[column] = ("presentation", stimuli[column].values)
            else:
                coords["stimulus_id"] = ("presentation", paths)
            coords["stimulus_path"] = ("presentation", paths)
            coords.update(
                {
                    "neuroid_id": ("neuroid", [f"{layer}.{j}" for j in range(k)]),
                    "neuroid_num": ("neuroid", np.arange(k)),
                    "layer": ("neuroid", [layer] * k),
                    "model": ("neuroid", [name] * k),
                }
            )
            return NeuroidAssembly(values, coords=coords, dims=["presentation", "neuroid"])

    return LayerModel()
