"""Build memtool's bundled demo data set (memtool/data/demo/) from the LNSIM data.

Picks a seeded, score-stratified selection of images (the images are sorted by score,
cut into as many equal bins as images wanted, and one image is drawn from each bin),
shrinks each so its longer side is at most --max-side pixels (JPEG, --quality), and
writes scores.csv and split_halves.csv for the chosen images with their values copied
unchanged, plus a NOTICE naming the source. Run from the repository root:

    python scripts/build_demo.py [--source ../shared/data/lnsim]

The source must be LNSIM in the flat layout: images/, scores.csv, split_halves.csv.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "lnsim"
DEFAULT_OUT = REPO / "memtool" / "data" / "demo"

NOTICE = """\
memtool demo data set
=====================

{n} outdoor natural-scene images with human memorability scores, selected from LNSIM:

  Jiaxin Lu, Mai Xu, Ren Yang and Zulin Wang, "Understanding and predicting the
  memorability of outdoor natural scenes", IEEE Transactions on Image Processing,
  vol. 29, pp. 4927-4941, 2020.

The images and scores are the authors' public research release, used unchanged except
for the selection of {n} images (seeded, stratified by score) and for resizing: each
image was shrunk so that its longer side is at most {max_side} pixels and saved as JPEG
(quality {quality}). scores.csv holds each image's memorability score (hit rate: the
mean of the two subject halves over the random subject splits); split_halves.csv holds
the two halves' hit rates for each random split of the subjects.

If you use these data, cite the paper above.
"""


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], [r for r in rows[1:] if r]


def stratified_pick(scores: np.ndarray, n: int, seed: int) -> np.ndarray:
    """One random index from each of ``n`` equal-count score bins, sorted."""
    rng = np.random.default_rng(seed)
    order = np.argsort(scores, kind="stable")
    return np.sort([rng.choice(b) for b in np.array_split(order, n)])


def shrink(src: Path, dst: Path, max_side: int, quality: int) -> None:
    with Image.open(src) as im:
        if max(im.size) <= max_side:
            shutil.copyfile(src, dst)  # already small: keep the original bytes
            return
        im = im.convert("RGB") if im.mode not in ("RGB", "L") else im
        scale = max_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im.resize(size, Image.LANCZOS).save(dst, "JPEG", quality=quality, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--quality", type=int, default=90)
    args = ap.parse_args()

    header, rows = read_csv(args.source / "scores.csv")
    scores = np.array([float(r[1]) for r in rows])
    chosen = [rows[i] for i in stratified_pick(scores, args.n, args.seed)]
    names = {r[0] for r in chosen}

    images = args.out / "images"
    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    for r in chosen:
        shrink(args.source / "images" / r[0], images / r[0], args.max_side, args.quality)

    with (args.out / "scores.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(chosen)
    halves_header, halves = read_csv(args.source / "split_halves.csv")
    with (args.out / "split_halves.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(halves_header)
        w.writerows(r for r in halves if r[0] in names)
    (args.out / "NOTICE").write_text(
        NOTICE.format(n=len(chosen), max_side=args.max_side, quality=args.quality),
        encoding="utf-8",
    )
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(chosen)} images to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
