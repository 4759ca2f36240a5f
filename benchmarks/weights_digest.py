"""Cost of the full weights digest next to loading the same model, in one run.

    python benchmarks/weights_digest.py [MODEL ...]    (default: tf_efficientnet_lite0 resmem)

Prints, per model: state-dict size, the median of 3 timings of load_model (which now
includes one full digest), of weights_digest alone (every byte) and of the old partial
digest, and the digest's share of the load time.
"""

from __future__ import annotations

import statistics
import sys
import time


def median_time(fn, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(models: list[str]) -> None:
    from memtool.models.registry import load_model
    from memtool.models.weights import legacy_weights_digest, weights_digest

    with open("/proc/loadavg") as handle:
        print(f"load average: {handle.read().split()[:3]}")
    for name in models:
        loaded = load_model(name)
        size = sum(v.numel() * v.element_size() for v in loaded.module.state_dict().values())
        module = loaded.module
        t_load = median_time(lambda name=name: load_model(name))
        t_full = median_time(lambda module=module: weights_digest(module))
        t_old = median_time(lambda module=module: legacy_weights_digest(module))
        print(
            f"{name}: {size / 1e6:.1f} MB; load_model {t_load:.3f} s, full digest {t_full:.3f} s "
            f"({size / t_full / 1e9:.2f} GB/s, {t_full / t_load:.1%} of the load), "
            f"old partial digest {t_old:.4f} s"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["tf_efficientnet_lite0", "resmem"])
