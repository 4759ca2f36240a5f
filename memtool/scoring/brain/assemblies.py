"""memtool's neural data (``memtool.data.neural.NeuralData``) in brainscore-vision's formats.

The ``StimulusSet``, the (images x neuroids) ``NeuroidAssembly`` and the single-trial
assembly of repeats are built the way brainscore's own data plugins build theirs, so
its metrics and ceilings treat local data exactly as they treat Brain-Score's.
"""

from __future__ import annotations

import numpy as np

from memtool.errors import DataError


def to_stimulus_set(data, identifier: str):
    """The data's images as a StimulusSet (its columns: stimulus_id, metadata, filename)."""
    import pandas as pd
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    columns = {"stimulus_id": list(data.stimulus_ids)}
    for key, values in data.stimulus_meta.items():
        if key not in columns:
            columns[key] = list(values)
    columns.setdefault("filename", [p.name for p in data.stimuli])
    stimulus_set = StimulusSet(pd.DataFrame(columns))
    stimulus_set.stimulus_paths = {sid: str(p) for sid, p in zip(data.stimulus_ids, data.stimuli)}
    stimulus_set.identifier = identifier
    return stimulus_set


def presentation_coords(stimulus_set, index: np.ndarray) -> dict:
    return {c: ("presentation", stimulus_set[c].values[index]) for c in stimulus_set.columns}


def neuroid_assembly(values: np.ndarray, data, stimulus_set):
    """(images, neuroids) responses as a NeuroidAssembly like brainscore's data plugins give."""
    assembly = _assembly(values, data, stimulus_set, np.arange(values.shape[0]))
    assembly.attrs["stimulus_set_identifier"] = stimulus_set.identifier
    return assembly


def _assembly(values: np.ndarray, data, stimulus_set, index: np.ndarray, extra: dict | None = None):
    """(presentations, neuroids) ``values``; presentation i shows image ``index[i]``, with
    ``extra`` presentation coordinates, and one 70-170 ms time bin as brainscore's data has."""
    from brainscore_core.supported_data_standards.brainio.assemblies import (
        NeuroidAssembly,
    )

    coords = presentation_coords(stimulus_set, index)
    coords.update(extra or {})
    coords.update(_neuroid_coords(data, values.shape[1]))
    assembly = NeuroidAssembly(
        values[:, :, None], coords=coords, dims=["presentation", "neuroid", "time_bin"]
    ).squeeze("time_bin")
    assembly.attrs["stimulus_set"] = stimulus_set
    return assembly


def _neuroid_coords(data, n: int) -> dict:
    ids = data.neuroid_ids or [f"{data.region}-{i}" for i in range(n)]
    return {
        "neuroid_id": ("neuroid", list(ids)),
        "region": ("neuroid", [data.region] * n),
        "time_bin_start": ("time_bin", [70]),
        "time_bin_end": ("time_bin", [170]),
    }


def repetition_assembly(data, stimulus_set):
    """Single trials as presentations, repetition = even/odd trial of its image.

    Relabelling each image's valid trials 0, 1, 0, 1 ... (as brainscore's Cowley2026
    plugin does) makes the two halves of the split-half ceiling balanced per image
    whatever the number of repeats. Images with fewer than two trials are left out.
    """
    repeats = data.repeats  # (neuroids, images, repeats)
    valid = ~np.all(np.isnan(repeats), axis=0)  # (images, repeats)
    image_index, trial_index, half = [], [], []
    for i in range(repeats.shape[1]):
        trials = np.flatnonzero(valid[i])
        if trials.size < 2:
            continue
        image_index += [i] * trials.size
        trial_index += trials.tolist()
        half += [k % 2 for k in range(trials.size)]
    if not image_index:
        raise DataError(
            f"{data.name}: no image has two or more repeats, so there is no ceiling",
            hint="give mean responses (neuroids x images) instead of repeats",
        )
    image_index = np.asarray(image_index)
    values = repeats[:, image_index, np.asarray(trial_index)].T  # (trials, neuroids)
    return _assembly(
        values, data, stimulus_set, image_index, {"repetition": ("presentation", np.asarray(half))}
    )
