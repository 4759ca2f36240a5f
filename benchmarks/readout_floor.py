"""How fast can an exact leave-one-out ridge readout be on this CPU? The LAPACK floor.

The readout's penalty choice needs, per training split, the eigendecomposition of the
training Gram matrix (n_train x n_train when images are fewer than features) or of the
feature covariance (d x d otherwise), and, for the leave-one-out leverages, the product
of the n_train x d features with the d x d eigenvectors. Both the numpy reference and the
torch readout do exactly this; what is left to speed up is everything else. This times,
on one thread, the parts any exact float64 method must pay, next to the whole torch
readout and the whole numpy reference of the same layer (5-fold, as
``benchmarks/readout_speed.py``):

  eigh       torch.linalg.eigh (LAPACK syevd) of the training Gram / covariance
  sytrd      its first step alone, the reduction to tridiagonal form (SciPy's dsytrd),
             which any symmetric eigensolver or tridiagonal LOO formula starts with
  eigvalsh   eigenvalues only (no eigenvectors): a lower bound on any solver that
             still needs the leverages
  leverage   the n_train x d x d product behind the primal leverages (n > d only)

and prints the best ratio numpy / torch that a readout paying only these could reach.

    python benchmarks/readout_floor.py [--sizes 2000x2048 20000x2048]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["2000x2048"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

    import sys

    import numpy as np
    import torch
    from scipy.linalg import eigvalsh, lapack

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from readout_speed import features

    from memtool.data.splits import kfold_splits
    from memtool.scoring.readout import ReadoutConfig, score_features
    from memtool.scoring.readout_torch import score_layers

    torch.set_num_threads(1)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"
    print(f"one thread; load {load}; times in seconds per layer (5 folds)")
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        X, y = features(n, d)
        splits = kfold_splits(n, 5, seed=0)
        n_train = len(splits[0].train)
        Z = X[splits[0].train].astype(np.float64)
        Z = (Z - Z.mean(0)) / Z.std(0)
        dual = n_train <= d
        G = Z @ Z.T if dual else Z.T @ Z
        Gt = torch.from_numpy(G)
        eigh = best_of(lambda: torch.linalg.eigh(Gt), args.repeats) * 5
        sytrd = best_of(lambda: lapack.dsytrd(G, lower=1), args.repeats) * 5
        values = best_of(lambda: eigvalsh(G), args.repeats) * 5
        V = np.linalg.eigh(G)[1]
        leverage = 0.0 if dual else best_of(lambda: Z @ V, args.repeats) * 5
        config = ReadoutConfig()
        score_layers([X], y, splits, config)  # bootstrap draws made once per split
        torch_s = best_of(lambda: score_layers([X], y, splits, config), args.repeats)
        numpy_s = best_of(lambda: score_features(X, y, splits, config), 1)
        floor = values + leverage  # the least any exact float64 readout pays
        print(
            f"n={n} d={d} ({'Gram' if dual else 'covariance'} {G.shape[0]}^2): eigh {eigh:.2f}, "
            f"sytrd {sytrd:.2f}, eigvalsh {values:.2f}, leverage {leverage:.2f}; "
            f"torch readout {torch_s:.2f} (eigh {eigh / torch_s:.0%} of it), numpy {numpy_s:.2f}: "
            f"{numpy_s / torch_s:.1f}x now; at most {numpy_s / floor:.1f}x if the readout paid "
            f"only eigvalsh + leverage"
        )


if __name__ == "__main__":
    main()
