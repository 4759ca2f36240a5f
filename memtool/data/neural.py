"""Local neural data: one documented on-disk format and adapters for two public layouts.

A *neural data set* is a set of stimulus images with, for each image, either the
responses of recorded neuroids (neurons, sites, voxels) or a representational
dissimilarity matrix (RDM) over the images. ``load_neural(spec)`` returns one
:class:`NeuralData` per region (response data) or per RDM; ``memtool.scoring.brain``
turns each into a brain target scored with brainscore-vision. Nothing here imports
brainscore-vision.

The memtool format (a folder; see docs/brain.md for a worked example)::

    my_recordings/
      stimuli/             the images (any format Pillow reads)
      stimuli.csv          optional: stimulus_id,filename[,more columns]; fixes the order
                           of the images (column i of the responses is row i here) and
                           adds per-image metadata. Without it: the files of stimuli/
                           sorted by name, stimulus_id = file name without extension.
      responses.npy        optional: float array (neuroids, images) of mean responses, or
                           (neuroids, images, repeats) of single trials with NaN where an
                           image had fewer repeats. Repeats give a split-half ceiling.
      neuroids.csv         required with responses.npy: one row per neuroid (row i is
                           row i of responses.npy) with columns neuroid_id,region.
      rdms.csv             optional: file,region[,name,description]: one row per RDM file
                           (a .npy (images, images) dissimilarity matrix, symmetric, zero
                           diagonal, path relative to the folder).
      meta.json            optional: {"name": ..., "citation": ...}

Specs understood by ``load_neural``:

``DIR`` or ``DIR:SELECT``
    a folder in the memtool format; SELECT keeps the region or RDM name given.
``cowley2023:DIR[:SESSION]``
    the V4 release of Cowley, Stan, Pillow & Smith (2023): ``images/images_<s>.zip``,
    ``responses_repeat_averaged/responses_<s>.npy`` (neurons, images) and, where
    present, ``responses_raw/responses_<s>.npy`` (neurons, images, repeats; NaN-padded).
    Without SESSION every session found is loaded.
``kriegeskorte92:FILE[:monkey|human]``
    the 92-image set (``Kriegeskorte_Neuron2008_supplementalData.mat``, or the folder
    holding it): monkey IT (Kiani et al. 2007) and human IT (Kriegeskorte et al. 2008)
    RDMs. Without a choice both are loaded.
``demo-it`` / ``demo-hit``
    the monkey / human IT RDMs of the 92-image set bundled with memtool
    (``memtool/data/demo_brain``, MIT licence, see its NOTICE).

Images stored inside a zip or a .mat file are written once to memtool's cache folder
(``$MEMTOOL_CACHE``, else ``$XDG_CACHE_HOME/memtool``, else ``~/.cache/memtool``).
Every problem with the input raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from memtool.errors import DataError, UsageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}

COWLEY_CITATION = (
    "Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural "
    "network models of visual cortex. bioRxiv 2023.11.22.568315."
)
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


@dataclass
class NeuralData:
    """One scoring target's data: stimuli plus responses of one region, or one RDM."""

    name: str  # e.g. "cowley2023-210325", "kriegeskorte92-monkey"
    kind: str  # "responses" | "rdm"
    region: str  # "V1" | "V2" | "V4" | "IT" | a label from the data
    spec: str  # a spec that loads this again
    stimulus_ids: list[str]
    stimuli: list[Path]
    stimulus_meta: dict[str, list] = field(default_factory=dict)  # extra per-image columns
    responses: np.ndarray | None = None  # (neuroids, images): mean over repeats
    repeats: np.ndarray | None = None  # (neuroids, images, repeats), NaN-padded
    neuroid_ids: list[str] | None = None
    rdm: np.ndarray | None = None  # (images, images)
    description: str = ""
    citation: str = ""
    root: Path | None = None

    @property
    def n_stimuli(self) -> int:
        return len(self.stimuli)

    @property
    def n_neuroids(self) -> int | None:
        return None if self.responses is None else int(self.responses.shape[0])

    def fingerprint(self) -> str:
        """Digest of stimulus ids, image bytes and the numbers: equal digests, equal scores."""
        h = hashlib.sha1(f"{self.kind}\t{self.region}\n".encode())
        for sid, path in zip(self.stimulus_ids, self.stimuli):
            h.update(f"{sid}\t{_file_digest(path)}\n".encode())
        for array in (self.responses, self.repeats, self.rdm):
            h.update(b"|" if array is None else np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return h.hexdigest()[:16]


# -- cache --------------------------------------------------------------------------------

def cache_dir() -> Path:
    """memtool's cache folder (created on demand)."""
    if os.environ.get("MEMTOOL_CACHE"):
        base = Path(os.environ["MEMTOOL_CACHE"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memtool"
    return base.expanduser()


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _materialise(key: str, write) -> Path:
    """Return ``cache/neural/<key>``, filling it once with ``write(tmp_dir)`` (atomic rename)."""
    final = cache_dir() / "neural" / key
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=final.parent))
    try:
        write(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process got there first
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# -- spec dispatch ------------------------------------------------------------------------

def demo_brain_dir() -> Path:
    return Path(str(resources.files("memtool") / "data" / "demo_brain"))


def load_neural(spec: str) -> list[NeuralData]:
    """Parse a local neural data spec (see the module docstring); one entry per target."""
    spec = spec.strip()
    if spec in ("demo-it", "demo-hit"):
        choice = "monkey" if spec == "demo-it" else "human"
        found = read_local(demo_brain_dir(), select=choice)
        for d in found:
            d.spec = spec
        return found
    head, sep, rest = spec.partition(":")
    if sep and head.lower() == "cowley2023":
        path, session = _split_select(rest)
        return load_cowley2023(path, session)
    if sep and head.lower() == "kriegeskorte92":
        path, which = _split_select(rest)
        return load_kriegeskorte92(path, which)
    if sep and head.lower() == "local":
        spec = rest
    path, select = _split_select(spec)
    return read_local(path, select=select)


def _split_select(text: str) -> tuple[Path, str | None]:
    """``PATH[:SELECT]``: SELECT only when PATH:SELECT is not itself an existing path."""
    whole = Path(text).expanduser()
    if whole.exists() or ":" not in text:
        return whole, None
    path, _, select = text.rpartition(":")
    return Path(path).expanduser(), (select or None)


# -- the memtool format -------------------------------------------------------------------

def read_local(root: str | Path, select: str | None = None) -> list[NeuralData]:
    """Read a folder in the memtool format; ``select`` keeps one region or RDM name."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"neural data folder {root} does not exist",
                        hint="pass a folder with stimuli/ and responses.npy or rdms.csv (docs/brain.md)")
    meta = _read_meta(root / "meta.json")
    name = str(meta.get("name") or root.name)
    citation = str(meta.get("citation") or "")
    ids, paths, extra = _read_stimuli(root)
    found: list[NeuralData] = []
    if (root / "responses.npy").exists():
        found += _read_responses(root, name, ids, paths, extra, citation)
    elif (root / "neuroids.csv").exists():
        raise DataError(f"{root / 'neuroids.csv'} exists but {root / 'responses.npy'} does not",
                        hint="add the responses matrix (neuroids x images) as responses.npy")
    if (root / "rdms.csv").exists():
        found += _read_rdms(root, name, ids, paths, extra, citation)
    if not found:
        raise DataError(f"{root} holds neither responses.npy nor rdms.csv",
                        hint="see docs/brain.md for the folder layout")
    if select is not None:
        kept = [d for d in found if select in (d.region, d.name, d.name.rsplit("-", 1)[-1])]
        if not kept:
            have = sorted({d.region for d in found} | {d.name.rsplit("-", 1)[-1] for d in found})
            raise UsageError(f"'{select}' matches no region or RDM in {root}",
                             hint=f"choose one of: {', '.join(have)}")
        found = kept
    for d in found:
        d.spec = str(root) if select is None else f"{root}:{select}"
    return found


def _read_meta(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}", hint="fix the JSON or delete the file") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path} must hold a JSON object", hint='e.g. {"name": "my-v4"}')
    return meta


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}", hint="check the file") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)} (has: {', '.join(columns) or 'none'})",
                        hint=f"the header must include {','.join(required)}")
    for line, row in enumerate(rows, start=2):
        for c in required:
            if not row.get(c):
                raise DataError(f"{path} line {line}: empty {c}", hint="fill in every required column")
    return rows


def _read_stimuli(root: Path) -> tuple[list[str], list[Path], dict[str, list]]:
    folder = root / "stimuli"
    if not folder.is_dir():
        raise DataError(f"{root} has no stimuli/ folder", hint="put the stimulus images in stimuli/")
    table = root / "stimuli.csv"
    if table.exists():
        rows = _read_csv(table, ("stimulus_id", "filename"))
        ids = [r["stimulus_id"] for r in rows]
        paths = [folder / r["filename"] for r in rows]
        extra_cols = [c for c in rows[0] if c not in ("stimulus_id", "filename")] if rows else []
        extra = {c: [r.get(c, "") for r in rows] for c in extra_cols}
        extra["filename"] = [r["filename"] for r in rows]
    else:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        ids = [p.stem for p in paths]
        extra = {"filename": [p.name for p in paths]}
    if not paths:
        raise DataError(f"no images in {folder}", hint="add the stimulus images")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"stimulus_id '{dup}' occurs twice in {table if table.exists() else folder}",
                        hint="give every image a unique stimulus_id")
    return ids, paths, extra


def _load_npy(path: Path) -> np.ndarray:
    hint = "save it with numpy.save as a numeric array"
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(np.lib.format.MAGIC_PREFIX))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", hint="check the path and its permissions") from None
    if head != np.lib.format.MAGIC_PREFIX:  # np.load would try it as a pickle and say so
        what = ("is a Python pickle, not a .npy array" if head[:1] == b"\x80"
                else "is an .npz archive, not a .npy array" if head[:2] == b"PK"
                else "is empty (0 bytes)" if not head
                else f"is not a .npy file (it lacks NumPy's header; first bytes {head[:4].hex()})")
        raise DataError(f"{path} {what}", hint=hint)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}", hint=hint) from None
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path} holds {array.dtype} values, not numbers", hint="save a float array")
    return array.astype(np.float64, copy=False)


def _read_responses(root, name, ids, paths, extra, citation) -> list[NeuralData]:
    path = root / "responses.npy"
    array = _load_npy(path)
    if array.ndim not in (2, 3):
        raise DataError(f"{path} has shape {array.shape}; expected (neuroids, images) or "
                        "(neuroids, images, repeats)", hint="transpose or reshape it")
    if array.shape[1] != len(paths):
        raise DataError(f"{path} has {array.shape[1]} images on axis 1 but there are {len(paths)} "
                        f"stimuli", hint="axis 0 = neuroids, axis 1 = images in stimuli order")
    table = root / "neuroids.csv"
    if not table.exists():
        raise DataError(f"{table} is missing", hint="add neuroids.csv with columns neuroid_id,region")
    rows = _read_csv(table, ("neuroid_id", "region"))
    if len(rows) != array.shape[0]:
        raise DataError(f"{table} lists {len(rows)} neuroids but {path} has {array.shape[0]} rows",
                        hint="one neuroids.csv row per row of responses.npy")
    regions = [r["region"] for r in rows]
    out = []
    for region in dict.fromkeys(regions):
        keep = np.array([r == region for r in regions])
        sub = array[keep]
        repeats = sub if sub.ndim == 3 else None
        data = NeuralData(
            name=f"{name}-{region}" if len(set(regions)) > 1 else name, kind="responses",
            region=region, spec=str(root), stimulus_ids=list(ids), stimuli=list(paths),
            stimulus_meta=dict(extra), responses=_mean_over_repeats(sub, path),
            repeats=repeats, neuroid_ids=[r["neuroid_id"] for r, k in zip(rows, keep) if k],
            description=f"{int(keep.sum())} {region} neuroids", citation=citation, root=root)
        out.append(validate(data, source=path))
    return out


def _mean_over_repeats(array: np.ndarray, path: Path) -> np.ndarray:
    """Mean over the repeat axis ignoring NaN padding (all-NaN cells stay NaN for validate)."""
    if array.ndim == 2:
        return array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice"
        return np.nanmean(array, axis=2)


def _read_rdms(root, name, ids, paths, extra, citation) -> list[NeuralData]:
    table = root / "rdms.csv"
    out = []
    for line, row in enumerate(_read_csv(table, ("file", "region")), start=2):
        path = root / row["file"]
        if not path.exists():
            raise DataError(f"{table} line {line}: {path} does not exist", hint="fix the file column")
        label = row.get("name") or path.stem
        data = NeuralData(
            name=f"{name}-{label}", kind="rdm", region=row["region"], spec=str(root),
            stimulus_ids=list(ids), stimuli=list(paths), stimulus_meta=dict(extra),
            rdm=_load_npy(path), description=row.get("description", ""), citation=citation,
            root=root)
        out.append(validate(data, source=path))
    return out


def write_local(root: str | Path, items: list[NeuralData], *, name: str | None = None,
                citation: str = "", copy_images: bool = True) -> Path:
    """Write data sets that share their stimuli as one folder in the memtool format.

    Response data of several regions are stacked into one responses.npy (all must have
    the same number of repeats, or none); RDMs go to ``rdms/<name>.npy``. With
    ``copy_images=False`` the images must already be in ``root/stimuli`` under their
    file names.
    """
    root = Path(root)
    if not items:
        raise ValueError("nothing to write")
    first = items[0]
    for d in items[1:]:
        if d.stimulus_ids != first.stimulus_ids:
            raise ValueError("all items must share the same stimuli")
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    filenames = first.stimulus_meta.get("filename") or [p.name for p in first.stimuli]
    if copy_images:
        for src, fname in zip(first.stimuli, filenames):
            shutil.copyfile(src, root / "stimuli" / fname)
    extra = {k: v for k, v in first.stimulus_meta.items() if k != "filename"}
    with (root / "stimuli.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["stimulus_id", "filename", *extra])
        for i, sid in enumerate(first.stimulus_ids):
            w.writerow([sid, filenames[i], *(extra[k][i] for k in extra)])
    responses = [d for d in items if d.kind == "responses"]
    if responses:
        arrays = [d.repeats if d.repeats is not None else d.responses for d in responses]
        np.save(root / "responses.npy", np.concatenate(arrays, axis=0))
        with (root / "neuroids.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["neuroid_id", "region"])
            for d in responses:
                for nid in d.neuroid_ids or [f"{d.region}-{i}" for i in range(d.n_neuroids or 0)]:
                    w.writerow([nid, d.region])
    rdms = [d for d in items if d.kind == "rdm"]
    if rdms:
        (root / "rdms").mkdir(exist_ok=True)
        with (root / "rdms.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["file", "region", "name", "description"])
            for d in rdms:
                label = d.name.rsplit("-", 1)[-1]
                np.save(root / "rdms" / f"{label}.npy", d.rdm)
                w.writerow([f"rdms/{label}.npy", d.region, label, d.description])
    meta = {"name": name or first.name.rsplit("-", 1)[0], "citation": citation or first.citation}
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return root


# -- validation ---------------------------------------------------------------------------

def validate(data: NeuralData, *, source: Path | None = None, check_images: bool = True) -> NeuralData:
    """Check shapes, NaNs, RDM symmetry and that every stimulus decodes; raise DataError."""
    where = source or data.root or data.name
    n = data.n_stimuli
    if data.kind == "responses":
        r = data.responses
        if r is None or r.ndim != 2 or r.shape[1] != n:
            shape = None if r is None else r.shape
            raise DataError(f"{where}: responses have shape {shape}, expected (neuroids, {n})",
                            hint="one column per stimulus, in stimuli order")
        if r.shape[0] == 0:
            raise DataError(f"{where}: no neuroids", hint="add at least one neuroid")
        dead = np.where(np.all(np.isnan(r), axis=1))[0]
        if dead.size:
            names = [data.neuroid_ids[i] if data.neuroid_ids else str(i) for i in dead[:5]]
            raise DataError(f"{where}: {dead.size} neuroid(s) have only NaN responses "
                            f"({', '.join(names)}{', ...' if dead.size > 5 else ''})",
                            hint="drop them from the responses and from neuroids.csv")
        holes = np.isnan(r)
        if holes.any():
            rows, cols = np.where(holes)
            raise DataError(f"{where}: {int(holes.sum())} NaN responses (first: neuroid "
                            f"{rows[0]}, image {data.stimulus_ids[cols[0]]})",
                            hint="every neuroid needs a response to every image (drop the image "
                                 "or the neuroid)")
        if not np.all(np.isfinite(r)):
            raise DataError(f"{where}: responses contain inf", hint="replace infinite values")
        if data.repeats is not None and data.repeats.shape[:2] != r.shape:
            raise DataError(f"{where}: repeats have shape {data.repeats.shape}, responses {r.shape}",
                            hint="repeats must be (neuroids, images, repeats)")
    elif data.kind == "rdm":
        m = data.rdm
        if m is None or m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise DataError(f"{where}: the RDM has shape {None if m is None else m.shape}; it must be "
                            "square (images x images)", hint="save the full matrix, not a vector")
        if m.shape[0] != n:
            raise DataError(f"{where}: the RDM is {m.shape[0]}x{m.shape[0]} but there are {n} stimuli",
                            hint="rows and columns follow the stimuli order")
        if not np.all(np.isfinite(m)):
            raise DataError(f"{where}: the RDM contains NaN or inf", hint="fill in every pair")
        scale = max(float(np.abs(m).max()), 1e-12)
        if not np.allclose(m, m.T, rtol=0, atol=1e-6 * scale):
            i, j = np.unravel_index(np.argmax(np.abs(m - m.T)), m.shape)
            raise DataError(f"{where}: the RDM is not symmetric (entry [{i},{j}] = {m[i, j]:.6g} but "
                            f"[{j},{i}] = {m[j, i]:.6g})", hint="use a dissimilarity matrix")
        if not np.allclose(np.diag(m), 0, atol=1e-6 * scale):
            raise DataError(f"{where}: the RDM's diagonal is not zero",
                            hint="an image's dissimilarity to itself must be 0")
    else:
        raise ValueError(f"unknown kind {data.kind!r}")
    if check_images:
        _check_images(data.stimuli)
    return data


def _check_images(paths: list[Path]) -> None:
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as exc:  # Pillow raises many types for bad files
            reason = "file not found" if isinstance(exc, FileNotFoundError) else (str(exc) or type(exc).__name__)
            raise DataError(f"cannot read stimulus image {path}: {reason}",
                            hint="replace the file or remove the image from the data") from None


# -- Cowley et al. 2023 (V4) --------------------------------------------------------------

def load_cowley2023(root: str | Path, session: str | None = None) -> list[NeuralData]:
    root = Path(root).expanduser()
    zips = root / "images"
    if not zips.is_dir():
        raise DataError(f"{root} is not the Cowley 2023 V4 folder (no images/)",
                        hint="pass the folder with images/ and responses_repeat_averaged/")
    sessions = sorted(p.stem.removeprefix("images_") for p in zips.glob("images_*.zip"))
    if session is not None:
        if session not in sessions:
            raise UsageError(f"no session {session} in {root}",
                             hint=f"sessions: {', '.join(sessions) or 'none'}")
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
            names = sorted(n for n in zf.namelist()
                           if not n.endswith("/") and Path(n).suffix.lower() in IMAGE_SUFFIXES)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {zip_path}: {exc}", hint="re-download the file") from None

    def extract(target: Path) -> None:
        with zipfile.ZipFile(zip_path) as zf:
            for n in names:
                (target / Path(n).name).write_bytes(zf.read(n))

    folder = _materialise(f"cowley2023-{session}-{_file_digest(zip_path)[:12]}", extract)
    paths = [folder / Path(n).name for n in names]
    repeats = _load_npy(raw_path) if raw_path.exists() else None
    if repeats is not None and repeats.ndim != 3:
        raise DataError(f"{raw_path} has shape {repeats.shape}; expected (neurons, images, repeats)",
                        hint="use the authors' responses_raw file")
    if avg_path.exists():
        responses = _load_npy(avg_path)
    elif repeats is not None:
        responses = _mean_over_repeats(repeats, raw_path)
    else:
        raise DataError(f"no responses for session {session}: {avg_path} is missing",
                        hint="use the authors' folder layout")
    source = avg_path if avg_path.exists() else raw_path
    if responses.ndim != 2 or responses.shape[1] != len(paths):
        raise DataError(f"{source} has shape {responses.shape} but {zip_path} holds {len(paths)} images",
                        hint="axis 1 must be the images of the zip, in order")
    return validate(NeuralData(
        name=f"cowley2023-{session}", kind="responses", region="V4",
        spec=f"cowley2023:{root}:{session}", stimulus_ids=[Path(n).stem for n in names],
        stimuli=paths, stimulus_meta={"filename": [Path(n).name for n in names]},
        responses=responses, repeats=repeats,
        neuroid_ids=[f"{session}-n{i:03d}" for i in range(responses.shape[0])],
        description=f"macaque V4, session {session}, {responses.shape[0]} neurons"
                    + (f", {repeats.shape[2]} repeats max" if repeats is not None else ""),
        citation=COWLEY_CITATION, root=root), source=source)


# -- Kriegeskorte et al. 2008 / Kiani et al. 2007 (92 images) ------------------------------

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
        raise DataError(f"cannot read {path} as the 92-image data: {type(exc).__name__}: {exc}",
                        hint=f"pass the original {KRIEGESKORTE_MAT}") from None
    n = stimuli.shape[1]
    ids = [f"object{i + 1:02d}" for i in range(n)]

    def write_images(target: Path) -> None:
        from PIL import Image
        for i in range(n):
            Image.fromarray(np.asarray(stimuli[0, i]["image"], dtype=np.uint8)).save(target / f"{ids[i]}.png")

    folder = _materialise(f"kriegeskorte92-{_file_digest(path)[:12]}", write_images)
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
        matrix = squareform(values.ravel(), checks=False) if values.ndim == 2 and 1 in values.shape \
            else values
        out.append(validate(NeuralData(
            name=f"kriegeskorte92-{label}", kind="rdm", region=region,
            spec=f"kriegeskorte92:{path}:{label}", stimulus_ids=list(ids),
            stimuli=[folder / f"{s}.png" for s in ids], stimulus_meta=dict(meta), rdm=matrix,
            description=description, citation=KRIEGESKORTE_CITATION, root=path.parent), source=path))
    if not out:
        raise DataError(f"{path} holds no monkey or human IT RDM", hint=f"pass the original {KRIEGESKORTE_MAT}")
    return out


def _scalar(value):
    """Unwrap MATLAB's nested 1x1 arrays into a Python str or number."""
    while isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value
