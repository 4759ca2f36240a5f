"""The 92-image set: monkey IT (Kiani et al. 2007) and human IT (Kriegeskorte et al. 2008) RDMs.

Read from ``Kriegeskorte_Neuron2008_supplementalData.mat``; its images are written once
into memtool's cache as PNG files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memtool.data.neural.base import NeuralData, file_digest, materialise
from memtool.data.neural.checks import validate
from memtool.errors import DataError, UsageError

KRIEGESKORTE_CITATION = (
    "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., "
    "& Bandettini, P. A. (2008). Matching categorical object representations in inferior "
    "temporal cortex of man and monkey. Neuron 60(6), 1126-1141; Kiani, R., Esteky, H., "
    "Mirpour, K., & Tanaka, K. (2007). Object category structure in response patterns of "
    "neuronal population in monkey inferior temporal cortex. J. Neurophysiol. 97, 4296-4309."
)
KRIEGESKORTE_MAT = "Kriegeskorte_Neuron2008_supplementalData.mat"
# Names of the two RDMs in the .mat file -> (our name, region, description).
KRIEGESKORTE_RDMS = {
    "mIT_674neurons": ("monkey", "IT", "monkey IT, 674 neurons (Kiani et al. 2007)"),
    "hITvisStim_316vx": ("human", "IT", "human IT, 316 fMRI voxels (Kriegeskorte et al. 2008)"),
}


def load_kriegeskorte92(path: str | Path, which: str | None = None) -> list[NeuralData]:
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / KRIEGESKORTE_MAT
    if not path.exists():
        raise DataError(f"{path} does not exist", hint=f"pass {KRIEGESKORTE_MAT} or its folder")
    if which is not None and which not in ("monkey", "human"):
        raise UsageError(f"unknown choice '{which}' for kriegeskorte92", hint="use monkey or human")
    from scipy.io import loadmat
    from scipy.spatial.distance import squareform

    try:
        mat = loadmat(str(path))
        stimuli = mat["stimuli_92objs"]
        rdms = mat["RDMs_mIT_hIT_fig1"]
    except Exception as exc:  # scipy raises ValueError, KeyError, MatReadError ...
        raise DataError(
            f"cannot read {path} as the 92-image data: {type(exc).__name__}: {exc}",
            hint=f"pass the original {KRIEGESKORTE_MAT}",
        ) from None
    n = stimuli.shape[1]
    ids = [f"object{i + 1:02d}" for i in range(n)]

    def write_images(target: Path) -> None:
        from PIL import Image

        for i in range(n):
            Image.fromarray(np.asarray(stimuli[0, i]["image"], dtype=np.uint8)).save(target / f"{ids[i]}.png")

    folder = materialise(f"kriegeskorte92-{file_digest(path)[:12]}", write_images)
    meta = {"filename": [f"{s}.png" for s in ids]}
    for fld in ("category", "human", "face", "animal", "natural"):
        if fld in stimuli.dtype.names:
            meta[fld] = [_scalar(stimuli[0, i][fld]) for i in range(n)]
    out = []
    for k in range(rdms.shape[1]):
        raw_name = _scalar(rdms[0, k]["name"])
        if raw_name not in KRIEGESKORTE_RDMS:
            continue
        label, region, description = KRIEGESKORTE_RDMS[raw_name]
        if which is not None and label != which:
            continue
        values = np.asarray(rdms[0, k]["RDM"], dtype=np.float64)
        matrix = (
            squareform(values.ravel(), checks=False) if values.ndim == 2 and 1 in values.shape else values
        )
        out.append(
            validate(
                NeuralData(
                    name=f"kriegeskorte92-{label}",
                    kind="rdm",
                    region=region,
                    spec=f"kriegeskorte92:{path}:{label}",
                    stimulus_ids=list(ids),
                    stimuli=[folder / f"{s}.png" for s in ids],
                    stimulus_meta=dict(meta),
                    rdm=matrix,
                    description=description,
                    citation=KRIEGESKORTE_CITATION,
                    root=path.parent,
                ),
                source=path,
            )
        )
    if not out:
        raise DataError(
            f"{path} holds no monkey or human IT RDM", hint=f"pass the original {KRIEGESKORTE_MAT}"
        )
    return out


def _scalar(value):
    """Unwrap MATLAB's nested 1x1 arrays into a Python str or number."""
    while isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value
