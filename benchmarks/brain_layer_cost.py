"""What does brain scoring cost per layer, and what share of a sweep is it?

Scores features of 1,000 and 4,096 dimensions against one V4 session of Cowley et al.
(2023) with memtool's brain target (brainscore-vision's PLS, 10 cross-validation splits;
the ceiling is computed once per target and reported apart), and times, on the same
machine and features, the memorability readout of one layer (ridge + 5-fold CV + 1,000
bootstrap resamples on the 300 demo images). The features are real image statistics:
memtool's sparse random projection (rp:K) of each stimulus' pixels.

The share of a sweep is per layer: brain / (brain + memorability + extraction), where
extraction per layer comes from a finished sweep's timings (--sweep-db, e.g. the demo's
store; without it extraction is left out, which overstates the share slightly).

    python benchmarks/brain_layer_cost.py [--session 210325] [--dims 1000 4096] [--repeats 3]
        [--sweep-db demo.duckdb] [--metric pls]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "v4_cowley2023"


def pixel_projection(paths, k: int, seed: int = 0):
    """rp:k of the raw pixels (3 x H x W) of each image: real image statistics, k columns."""
    import numpy as np
    import torch
    from PIL import Image

    from memtool.extract.reducers import make_reducer

    reducer = make_reducer(f"rp:{k}", seed=seed)
    rows = []
    for p in paths:
        with Image.open(p) as im:
            x = torch.from_numpy(np.asarray(im.convert("RGB").resize((112, 112)), dtype=np.float32))
        rows.append(reducer.reduce("pixels", x.permute(2, 0, 1)[None] / 255.0)[0].numpy())
    return np.stack(rows).astype(np.float64)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def extraction_per_layer(db: Path) -> tuple[float | None, str]:
    from memtool.store import Store

    cols, rows = Store(db).query(
        "SELECT r.timings, (SELECT count(DISTINCT layer_name) FROM layer_scores s "
        "WHERE s.run_id = r.run_id AND s.target = 'memorability' AND s.fold = 'pooled') AS n "
        "FROM runs r WHERE r.status = 'completed' ORDER BY r.started_at DESC")
    for timings, n in rows:
        models = json.loads(timings or "{}").get("models", {})
        extract = sum(m.get("extract", 0) for m in models.values())
        if n and extract:
            return extract / n, f"{extract:.1f} s extraction over {n} layers in {db}"
    return None, f"no completed run with timings in {db}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the v4_cowley2023 folder")
    parser.add_argument("--session", default="210325")
    parser.add_argument("--dims", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--metric", default="pls", choices=["pls", "ridge"])
    parser.add_argument("--sweep-db", type=Path, default=None,
                        help="a finished sweep's store, for extraction seconds per layer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from memtool.data.memorability import load_memorability
    from memtool.scoring.brain import brainscore_version, load_brain_targets
    from memtool.scoring.readout import ReadoutConfig, score_features

    t0 = time.perf_counter()
    target = load_brain_targets([f"cowley2023:{args.data}:{args.session}"], regression=args.metric)[0]
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ceiling = target.ceiling()
    ceiling_s = time.perf_counter() - t0
    demo = load_memorability("demo")
    readout = ReadoutConfig()
    extract_s, extract_note = (None, "no --sweep-db given: extraction left out")
    if args.sweep_db:
        extract_s, extract_note = extraction_per_layer(args.sweep_db)

    results = []
    for k in args.dims:
        brain_feats = pixel_projection(target.stimuli, k)
        mem_feats = pixel_projection(demo.paths, k)
        brain_s, score = timed(lambda: target.score(brain_feats, layer=f"rp{k}"), args.repeats)
        mem_s, _ = timed(lambda: score_features(mem_feats, demo.scores, demo.splits, readout),
                         args.repeats)
        per_layer = brain_s + mem_s + (extract_s or 0.0)
        results.append({"dims": k, "brain_seconds_per_layer": round(brain_s, 3),
                        "memorability_seconds_per_layer": round(mem_s, 3),
                        "extraction_seconds_per_layer": None if extract_s is None else round(extract_s, 3),
                        "brain_share_of_sweep": round(brain_s / per_layer, 3),
                        "raw": score.raw, "ceiled": score.ceiled})
    report = {
        "target": target.name, "metric": target.metric, "n_stimuli": len(target.stimuli),
        "n_neuroids": target.n_neuroids, "ceiling": ceiling, "target_load_seconds": round(load_s, 2),
        "ceiling_seconds_once": round(ceiling_s, 2), "brainscore_vision": brainscore_version(),
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "extraction": extract_note,
        "repeats": args.repeats, "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{target.name}: {len(target.stimuli)} images, {target.n_neuroids} neurons, "
          f"{args.metric} (brainscore-vision {report['brainscore_vision']}), ceiling {ceiling:.3f} "
          f"computed once in {ceiling_s:.1f} s; {os.cpu_count()} CPUs; median of {args.repeats}")
    print(f"extraction: {extract_note}")
    for r in results:
        ext = "" if r["extraction_seconds_per_layer"] is None else \
            f" + extraction {r['extraction_seconds_per_layer']:.2f} s"
        print(f"  k={r['dims']:>5}: brain {r['brain_seconds_per_layer']:.2f} s/layer, memorability "
              f"{r['memorability_seconds_per_layer']:.2f} s/layer{ext} -> brain is "
              f"{100 * r['brain_share_of_sweep']:.0f}% of the sweep's time per layer")


if __name__ == "__main__":
    main()
