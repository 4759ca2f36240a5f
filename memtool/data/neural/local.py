"""memtool's own on-disk format for neural data (a folder; see ``memtool.data.neural``).

:func:`read_local` reads such a folder into one :class:`NeuralData` per region (response
data) or per RDM; :func:`write_local` writes data sets that share their stimuli as one.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

from memtool.data.base import IMAGE_SUFFIXES
from memtool.data.neural.base import NeuralData
from memtool.data.neural.checks import validate
from memtool.data.neural.files import load_npy, mean_over_repeats, read_csv
from memtool.errors import DataError, UsageError


def read_local(root: str | Path, select: str | None = None) -> list[NeuralData]:
    """Read a folder in the memtool format; ``select`` keeps one region or RDM name."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"neural data folder {root} does not exist",
            hint="pass a folder with stimuli/ and responses.npy or rdms.csv (docs/brain.md)",
        )
    meta = _read_meta(root / "meta.json")
    name = str(meta.get("name") or root.name)
    citation = str(meta.get("citation") or "")
    ids, paths, extra = _read_stimuli(root)
    found: list[NeuralData] = []
    if (root / "responses.npy").exists():
        found += _read_responses(root, name, ids, paths, extra, citation)
    elif (root / "neuroids.csv").exists():
        raise DataError(
            f"{root / 'neuroids.csv'} exists but {root / 'responses.npy'} does not",
            hint="add the responses matrix (neuroids x images) as responses.npy",
        )
    if (root / "rdms.csv").exists():
        found += _read_rdms(root, name, ids, paths, extra, citation)
    if not found:
        raise DataError(
            f"{root} holds neither responses.npy nor rdms.csv", hint="see docs/brain.md for the folder layout"
        )
    if select is not None:
        kept = [d for d in found if select in (d.region, d.name, d.name.rsplit("-", 1)[-1])]
        if not kept:
            have = sorted({d.region for d in found} | {d.name.rsplit("-", 1)[-1] for d in found})
            raise UsageError(
                f"'{select}' matches no region or RDM in {root}", hint=f"choose one of: {', '.join(have)}"
            )
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


def _read_stimuli(root: Path) -> tuple[list[str], list[Path], dict[str, list]]:
    folder = root / "stimuli"
    if not folder.is_dir():
        raise DataError(f"{root} has no stimuli/ folder", hint="put the stimulus images in stimuli/")
    table = root / "stimuli.csv"
    if table.exists():
        rows = read_csv(table, ("stimulus_id", "filename"))
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
        raise DataError(
            f"stimulus_id '{dup}' occurs twice in {table if table.exists() else folder}",
            hint="give every image a unique stimulus_id",
        )
    return ids, paths, extra


def _read_responses(root, name, ids, paths, extra, citation) -> list[NeuralData]:
    path = root / "responses.npy"
    array = load_npy(path)
    if array.ndim not in (2, 3):
        raise DataError(
            f"{path} has shape {array.shape}; expected (neuroids, images) or (neuroids, images, repeats)",
            hint="transpose or reshape it",
        )
    if array.shape[1] != len(paths):
        raise DataError(
            f"{path} has {array.shape[1]} images on axis 1 but there are {len(paths)} stimuli",
            hint="axis 0 = neuroids, axis 1 = images in stimuli order",
        )
    table = root / "neuroids.csv"
    if not table.exists():
        raise DataError(f"{table} is missing", hint="add neuroids.csv with columns neuroid_id,region")
    rows = read_csv(table, ("neuroid_id", "region"))
    if len(rows) != array.shape[0]:
        raise DataError(
            f"{table} lists {len(rows)} neuroids but {path} has {array.shape[0]} rows",
            hint="one neuroids.csv row per row of responses.npy",
        )
    regions = [r["region"] for r in rows]
    out = []
    for region in dict.fromkeys(regions):
        keep = np.array([r == region for r in regions])
        sub = array[keep]
        repeats = sub if sub.ndim == 3 else None
        data = NeuralData(
            name=f"{name}-{region}" if len(set(regions)) > 1 else name,
            kind="responses",
            region=region,
            spec=str(root),
            stimulus_ids=list(ids),
            stimuli=list(paths),
            stimulus_meta=dict(extra),
            responses=mean_over_repeats(sub, path),
            repeats=repeats,
            neuroid_ids=[r["neuroid_id"] for r, k in zip(rows, keep) if k],
            description=f"{int(keep.sum())} {region} neuroids",
            citation=citation,
            root=root,
        )
        out.append(validate(data, source=path))
    return out


def _read_rdms(root, name, ids, paths, extra, citation) -> list[NeuralData]:
    table = root / "rdms.csv"
    out = []
    for line, row in enumerate(read_csv(table, ("file", "region")), start=2):
        path = root / row["file"]
        if not path.exists():
            raise DataError(f"{table} line {line}: {path} does not exist", hint="fix the file column")
        label = row.get("name") or path.stem
        data = NeuralData(
            name=f"{name}-{label}",
            kind="rdm",
            region=row["region"],
            spec=str(root),
            stimulus_ids=list(ids),
            stimuli=list(paths),
            stimulus_meta=dict(extra),
            rdm=load_npy(path),
            description=row.get("description", ""),
            citation=citation,
            root=root,
        )
        out.append(validate(data, source=path))
    return out


def write_local(
    root: str | Path,
    items: list[NeuralData],
    *,
    name: str | None = None,
    citation: str = "",
    copy_images: bool = True,
) -> Path:
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
