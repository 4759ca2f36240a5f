"""Ray scaling: the same 4-model sweep in-process, and on a local Ray with 1 and 2 workers.

Prints wall time of each mode, the speed-up of Ray with 2 workers over 1 worker and over
in-process, and Ray's overhead per task: (Ray 1-worker time - in-process time) / tasks,
i.e. what scheduling, worker start-up, re-loading the data set in the worker, shard
writing and ingestion add to each model. All modes run in this one invocation, on the
same machine, alternating rounds, so the ratios are comparable even when absolute times
drift.

    python benchmarks/ray_scaling.py [--rounds 1] [--limit 48]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

MODELS = ["test_resnet", "test_efficientnet", "test_vit", "test_convnext"]


def sweep(engine: str, workdir: Path, limit: int, cpus_per_task: float = 1) -> float:
    from memtool.sweep import SweepConfig, run_sweep

    config = SweepConfig(models=MODELS, random_init=True, limit=limit, folds=3, n_boot=200, batch_size=16)
    db = workdir / f"{engine}-{time.monotonic_ns()}.duckdb"
    start = time.perf_counter()
    result = run_sweep(
        config,
        db,
        engine=engine,
        ray_options={"results_dir": workdir / f"{db.stem}.shards", "cpus_per_task": cpus_per_task}
        if engine == "ray"
        else None,
    )
    elapsed = time.perf_counter() - start
    assert all(m.error is None for m in result.models), [m.error for m in result.models]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, default=48, help="images per sweep")
    args = parser.parse_args()

    import os

    import ray
    import torch

    cores = os.cpu_count() or 1
    times: dict[str, list[float]] = {"in-process": [], "ray 1 worker": [], "ray 2 workers": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for _ in range(args.rounds):
            torch.set_num_threads(cores)
            times["in-process"].append(sweep("local", workdir, args.limit))
            # 1 worker: one task at a time, each with every core.
            ray.init(
                num_cpus=cores,
                num_gpus=0,
                include_dashboard=False,
                logging_level="ERROR",
                log_to_driver=False,
            )
            times["ray 1 worker"].append(sweep("ray", workdir, args.limit, cpus_per_task=cores))
            ray.shutdown()
            # 2 workers: two tasks at once, each with half the cores.
            ray.init(
                num_cpus=cores,
                num_gpus=0,
                include_dashboard=False,
                logging_level="ERROR",
                log_to_driver=False,
            )
            times["ray 2 workers"].append(sweep("ray", workdir, args.limit, cpus_per_task=cores / 2))
            ray.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{len(MODELS)} models ({', '.join(MODELS)}), {args.limit} images, {cores} cores, "
        f"{args.rounds} round(s), median wall seconds"
    )
    for mode, t in med.items():
        print(f"  {mode:14s} {t:7.1f} s")
    print(f"speed-up, 2 workers vs 1 worker:   {med['ray 1 worker'] / med['ray 2 workers']:.2f}x")
    print(f"speed-up, 2 workers vs in-process: {med['in-process'] / med['ray 2 workers']:.2f}x")
    print(
        f"Ray overhead per task (1 worker vs in-process): "
        f"{(med['ray 1 worker'] - med['in-process']) / len(MODELS):+.1f} s"
    )


if __name__ == "__main__":
    main()
