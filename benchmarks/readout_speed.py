"""Memorability readout speed: torch readout vs memtool's numpy reference vs scikit-learn.

For each size (n images x d features) the same seeded features (a planted low-rank
signal plus noise, float32 as the sweep hands them over) and scores are scored with 5-fold
CV by
  torch    memtool.scoring.readout_torch.score_layers (the sweep's readout; --layers
           copies of the layer in one call, as the sweep batches a group's layers)
  numpy    memtool.scoring.readout.score_features (today's reference path), per layer
  sklearn  StandardScaler + RidgeCV(alphas = the same 41-point grid, gcv) per KFold fold,
           Spearman of the pooled out-of-fold predictions (no bootstrap: sklearn has none)
and prints seconds per layer, the ratios and the largest |rho difference| of torch vs
numpy (every fold, pooled and both CI ends) and of the pooled rho vs sklearn. Timing
content does not depend on the values, so synthetic features stand in for a layer.

    python benchmarks/readout_speed.py [--sizes 2000x256 2000x2048 20000x256] [--layers 4]
        [--n-boot 1000] [--device cpu|cuda] [--skip-sklearn] [--warm] [--threads 1]
Sizes that do not fit the machine's time or memory are left out by choice of --sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def features(n: int, d: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    k = 16
    latent = rng.standard_normal((n, k)).astype(np.float32)
    X = latent @ rng.standard_normal((k, d)).astype(np.float32)
    X += 2.0 * rng.standard_normal((n, d)).astype(np.float32)
    X *= rng.uniform(0.1, 5.0, d).astype(np.float32)
    y = 0.7 + 0.05 * (latent[:, :3] @ np.array([1.0, -0.5, 0.3]) + 1.5 * rng.standard_normal(n))
    return X, y.astype(np.float64)


def sklearn_readout(X, y, splits, alphas):
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    pred = np.full(len(y), np.nan)
    for sp in splits:
        scaler = StandardScaler().fit(X[sp.train])
        model = RidgeCV(alphas=alphas).fit(scaler.transform(X[sp.train]), y[sp.train])
        pred[sp.test] = model.predict(scaler.transform(X[sp.test]))
    return float(spearmanr(pred, y)[0])


def max_delta(a, b) -> float:
    import math

    worst = 0.0
    for fa, fb in zip([*a.folds, a.pooled], [*b.folds, b.pooled]):
        for x, y in ((fa.rho, fb.rho), (fa.ci_low, fb.ci_low), (fa.ci_high, fb.ci_high)):
            if not (math.isnan(x) and math.isnan(y)):
                worst = max(worst, abs(x - y))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["2000x256", "2000x2048", "20000x256"])
    parser.add_argument("--layers", type=int, default=4, help="layers per torch call")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="time a second torch call on the same splits too (the sweep's steady "
        "state: bootstrap draws and counts are made once per split)",
    )
    parser.add_argument("--json", action="store_true")
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

    import numpy as np
    import torch

    from memtool.data.splits import kfold_splits
    from memtool.scoring.readout import DEFAULT_ALPHAS, ReadoutConfig, score_features
    from memtool.scoring.readout_torch import score_layers

    config = ReadoutConfig(n_boot=args.n_boot)
    if not args.json:
        print(
            f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
            f"{args.layers} layer(s) per torch call, {args.n_boot} bootstraps, 5-fold",
            flush=True,
        )
    rows = []
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        X, y = features(n, d)
        splits = kfold_splits(n, 5, seed=0)
        load = loadavg()
        score_layers([X[:200, :8]], y[:200], kfold_splits(200, 5), config, device=args.device)

        def timed_torch():
            t0 = time.perf_counter()
            out = score_layers([X] * args.layers, y, splits, config, device=args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return out, (time.perf_counter() - t0) / args.layers

        # cold: the first call on these splits also draws their bootstrap resamples and
        # counts; warm: every later call (a sweep's next layer group or model) reuses them
        fast, cold_s = timed_torch()
        fast, torch_s = timed_torch() if args.warm else (fast, cold_s)
        t0 = time.perf_counter()
        ref = score_features(X, y, splits, config)
        numpy_s = time.perf_counter() - t0
        sk_s = sk_rho = None
        if not args.skip_sklearn:
            t0 = time.perf_counter()
            sk_rho = sklearn_readout(X, y, splits, np.asarray(DEFAULT_ALPHAS))
            sk_s = time.perf_counter() - t0
        rows.append(
            {
                "n": n,
                "d": d,
                "torch_s_per_layer": round(torch_s, 3),
                "torch_cold_s_per_layer": round(cold_s, 3),
                "numpy_over_torch_cold": round(numpy_s / cold_s, 2),
                "numpy_s": round(numpy_s, 3),
                "sklearn_s": None if sk_s is None else round(sk_s, 3),
                "numpy_over_torch": round(numpy_s / torch_s, 2),
                "sklearn_over_torch": None if sk_s is None else round(sk_s / torch_s, 2),
                "max_abs_delta_vs_numpy": max_delta(ref, fast[0]),
                "pooled_delta_vs_sklearn": None if sk_rho is None else abs(sk_rho - fast[0].pooled.rho),
                "loadavg_before": load,
                "loadavg_after": loadavg(),
            }
        )
        if not args.json:
            r = rows[-1]
            sk = (
                ""
                if sk_s is None
                else (
                    f", sklearn {sk_s:.2f} s ({r['sklearn_over_torch']}x), "
                    f"|pooled rho - sklearn| {r['pooled_delta_vs_sklearn']:.1e}"
                )
            )
            cold = f" (cold {cold_s:.3f}: {r['numpy_over_torch_cold']}x)" if args.warm else ""
            print(
                f"n={n:>6} d={d:>5}: torch {torch_s:.3f} s/layer{cold}, numpy {numpy_s:.2f} s "
                f"({r['numpy_over_torch']}x){sk}; max |delta| vs numpy {r['max_abs_delta_vs_numpy']:.1e}"
                f"; load {load} -> {r['loadavg_after']}",
                flush=True,
            )
    if args.json:
        print(
            json.dumps(
                {
                    "device": args.device,
                    "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "n_boot": args.n_boot,
                    "results": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
