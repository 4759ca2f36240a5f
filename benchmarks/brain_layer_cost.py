"""Brain scoring per layer: brainscore-vision's own metric call against memtool's fast path.

One V4 session of Cowley et al. (2023) (640 images, 50 neurons) as a memtool brain
target, built twice from the same data and seed, hence the same brainscore splits:
``exact`` (brainscore's CrossRegressedCorrelation with scikit-learn's PLS-25 / Ridge,
unchanged) and ``fast`` (memtool.scoring.brain_fast: the same splits, aggregation and
ceiling, the regression fitted in torch for all 10 splits at once). Both score the same
features, real image statistics (memtool's sparse random projection rp:K of each
stimulus' pixels), at 1,000 and 4,096 dimensions. The ceiling is computed once before
timing. The two calls alternate over ``--repeats`` rounds; medians are printed with the
ratio and the largest |difference| of the raw and ceiled scores. Report the load average
printed with the figures: the machine may be shared.

    python benchmarks/brain_layer_cost.py [--session 210325] [--dims 1000 4096] [--repeats 2]
        [--metric pls|ridge] [--device cpu|cuda] [--threads 1] [--json]
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


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the v4_cowley2023 folder")
    parser.add_argument("--session", default="210325")
    parser.add_argument("--dims", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--metric", default="pls", choices=["pls", "ridge"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP/torch threads for both sides (set before numpy loads); "
        "1 gives stable ratios on a shared machine",
    )
    args = parser.parse_args()
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    import torch

    from memtool.scoring.brain import brainscore_version, load_brain_targets

    spec = [f"cowley2023:{args.data}:{args.session}"]
    exact = load_brain_targets(spec, regression=args.metric, impl="exact")[0]
    fast = load_brain_targets(spec, regression=args.metric, impl="fast", device=torch.device(args.device))[0]
    t0 = time.perf_counter()
    ceiling = exact.ceiling()
    fast.ceiling()
    ceiling_s = time.perf_counter() - t0
    load_before = loadavg()

    results = []
    for k in args.dims:
        feats = pixel_projection(exact.stimuli, k)
        times = {"exact": [], "fast": []}
        scores = {}
        fast.score(feats, layer=f"rp{k}")  # warm-up (imports, first allocations)
        for _ in range(args.repeats):
            for name, target in (("exact", exact), ("fast", fast)):
                t0 = time.perf_counter()
                scores[name] = target.score(feats, layer=f"rp{k}")
                times[name].append(time.perf_counter() - t0)
        e, f = scores["exact"], scores["fast"]
        exact_s, fast_s = statistics.median(times["exact"]), statistics.median(times["fast"])
        results.append(
            {
                "dims": k,
                "exact_seconds": round(exact_s, 3),
                "fast_seconds": round(fast_s, 4),
                "ratio": round(exact_s / fast_s, 1),
                "max_abs_delta": max(abs(e.raw - f.raw), abs((e.ceiled or 0.0) - (f.ceiled or 0.0))),
                "raw_exact": e.raw,
                "raw_fast": f.raw,
                "ceiled_exact": e.ceiled,
                "ceiled_fast": f.ceiled,
            }
        )
    report = {
        "target": exact.name,
        "metric": args.metric,
        "n_stimuli": len(exact.stimuli),
        "n_neuroids": exact.n_neuroids,
        "ceiling": ceiling,
        "ceiling_seconds_once": round(ceiling_s, 2),
        "brainscore_vision": brainscore_version(),
        "device": args.device,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "repeats": args.repeats,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{exact.name}: {len(exact.stimuli)} images, {exact.n_neuroids} neurons, {args.metric} "
        f"(brainscore-vision {report['brainscore_vision']}), 10 splits, ceiling {ceiling:.3f}; "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, fast on {args.device}; "
        f"median of {args.repeats}; load average {load_before} -> {report['loadavg_after']}"
    )
    for r in results:
        print(
            f"  k={r['dims']:>5}: brainscore {r['exact_seconds']:.2f} s, fast {r['fast_seconds']:.3f} s"
            f" -> {r['ratio']:.1f}x; max |delta score| {r['max_abs_delta']:.1e}"
        )


if __name__ == "__main__":
    main()
