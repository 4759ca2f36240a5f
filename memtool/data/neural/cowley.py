"""The macaque V4 release of Cowley, Stan, Pillow & Smith (2023).

Layout: ``images/images_<s>.zip``, ``responses_repeat_averaged/responses_<s>.npy``
(neurons, images) and, where present, ``responses_raw/responses_<s>.npy`` (neurons,
images, repeats; NaN-padded). The zipped images are unpacked once into memtool's cache.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from memtool.data.base import IMAGE_SUFFIXES
from memtool.data.neural.base import NeuralData, file_digest, materialise
from memtool.data.neural.checks import validate
from memtool.data.neural.files import load_npy, mean_over_repeats
from memtool.errors import DataError, UsageError

COWLEY_CITATION = (
    "Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural "
    "network models of visual cortex. bioRxiv 2023.11.22.568315."
)


def load_cowley2023(root: str | Path, session: str | None = None) -> list[NeuralData]:
    root = Path(root).expanduser()
    zips = root / "images"
    if not zips.is_dir():
        raise DataError(
            f"{root} is not the Cowley 2023 V4 folder (no images/)",
            hint="pass the folder with images/ and responses_repeat_averaged/",
        )
    sessions = sorted(p.stem.removeprefix("images_") for p in zips.glob("images_*.zip"))
    if session is not None:
        if session not in sessions:
            raise UsageError(
                f"no session {session} in {root}", hint=f"sessions: {', '.join(sessions) or 'none'}"
            )
        sessions = [session]
    if not sessions:
        raise DataError(f"no images_<session>.zip in {zips}", hint="check the folder")
    return [_cowley_session(root, s) for s in sessions]


def _cowley_session(root: Path, session: str) -> NeuralData:
    zip_path = root / "images" / f"images_{session}.zip"
    avg_path = root / "responses_repeat_averaged" / f"responses_{session}.npy"
    raw_path = root / "responses_raw" / f"responses_{session}.npy"
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = sorted(
                n for n in zf.namelist() if not n.endswith("/") and Path(n).suffix.lower() in IMAGE_SUFFIXES
            )
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {zip_path}: {exc}", hint="re-download the file") from None

    def extract(target: Path) -> None:
        with zipfile.ZipFile(zip_path) as zf:
            for n in names:
                (target / Path(n).name).write_bytes(zf.read(n))

    folder = materialise(f"cowley2023-{session}-{file_digest(zip_path)[:12]}", extract)
    paths = [folder / Path(n).name for n in names]
    repeats = load_npy(raw_path) if raw_path.exists() else None
    if repeats is not None and repeats.ndim != 3:
        raise DataError(
            f"{raw_path} has shape {repeats.shape}; expected (neurons, images, repeats)",
            hint="use the authors' responses_raw file",
        )
    if avg_path.exists():
        responses = load_npy(avg_path)
    elif repeats is not None:
        responses = mean_over_repeats(repeats, raw_path)
    else:
        raise DataError(
            f"no responses for session {session}: {avg_path} is missing",
            hint="use the authors' folder layout",
        )
    source = avg_path if avg_path.exists() else raw_path
    if responses.ndim != 2 or responses.shape[1] != len(paths):
        raise DataError(
            f"{source} has shape {responses.shape} but {zip_path} holds {len(paths)} images",
            hint="axis 1 must be the images of the zip, in order",
        )
    return validate(
        NeuralData(
            name=f"cowley2023-{session}",
            kind="responses",
            region="V4",
            spec=f"cowley2023:{root}:{session}",
            stimulus_ids=[Path(n).stem for n in names],
            stimuli=paths,
            stimulus_meta={"filename": [Path(n).name for n in names]},
            responses=responses,
            repeats=repeats,
            neuroid_ids=[f"{session}-n{i:03d}" for i in range(responses.shape[0])],
            description=f"macaque V4, session {session}, {responses.shape[0]} neurons"
            + (f", {repeats.shape[2]} repeats max" if repeats is not None else ""),
            citation=COWLEY_CITATION,
            root=root,
        ),
        source=source,
    )
