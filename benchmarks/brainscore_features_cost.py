"""Brain-Score features: memtool's sweep against brainscore-vision's LayerScores, same work.

Both score the same layers of tf_efficientnet_lite0 (real weights) on a benchmark built
from Cowley 2023 V4 session 210325 (640 images, brainscore's PLS-25 and cross-validation)
with PCA-1000 fitted on the same 1000 reference images (the first 1000 LNSIM images by
name; brainscore's ``_get_imagenet_val`` is pointed at them through MT_IMAGENET_PATH):

* memtool: ``run_sweep(brain=[benchmark], brain_features="brainscore")`` (brain part only
  is timed: PCA fit + stimulus extraction + scoring), component cache off;
* brainscore: ``PytorchWrapper`` + ``LayerPCA.hook(n_components=1000)`` +
  ``LayerScores(..., prerun=True)``, its PCA and score caches off.

Each run is a child process, so its peak memory (ru_maxrss) is its own; the peak of the
brain part alone (memtool's second sweep, after its memorability part; brainscore's
LayerScores call) is read from the kernel's VmHWM after resetting it. Both are run for a
few layers and for more layers, at a fixed --memory-budget for memtool: memtool's peak
must not grow with the number of layers. The benchmark is built by the factory the tests
use (tests/brain/_benchmarks.py). Run from the repository root:

    python benchmarks/brainscore_features_cost.py [--budget-gb 0.5] [--threads 2] [--few L,L] [--many L,L,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEMTOOL_SHARED_DATA", REPO.parent / "shared" / "data"))
BENCHMARK = "memtool-bench.Cowley2023-210325.V4-pls"
FEW = ["blocks.2", "blocks.4", "conv_head"]
MANY = [
    "blocks.1",
    "blocks.2",
    "blocks.3",
    "blocks.4",
    "blocks.5",
    "blocks.6",
    "conv_head",
    "global_pool",
    "classifier",
]


def _register():
    """The Cowley V4 session as a brainscore benchmark, from the factory the tests use
    (tests/brain/_benchmarks.py), registered in brainscore's registry."""
    import numpy as np

    from memtool.brainscore_env import import_brainscore as _bs
    from memtool.data.neural import load_cowley2023
    from tests.brain._benchmarks import cowley_benchmark_factory

    bv = _bs()
    from brainscore_core.metrics import Score

    factory = cowley_benchmark_factory(
        load_cowley2023(SHARED / "v4_cowley2023", "210325")[0],
        identifier=BENCHMARK,
        stimulus_set="memtool-bench.cowley2023-210325",
        visual_degrees=8,
        ceiling_func=lambda: Score(np.nan),
    )
    bv.benchmark_registry[BENCHMARK] = factory
    return factory


def _reset_peak() -> None:
    """Restart the kernel's peak-RSS count (VmHWM) from the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _cpu() -> float:
    """CPU seconds of this process so far (threads included): on a loaded machine a fairer
    measure of work than wall time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _phase_peak_gib() -> float:
    """Peak RSS since the last ``_reset_peak``."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def child_memtool(layers: list[str], budget: float, work: Path) -> dict:
    from dataclasses import replace

    from memtool.store import Store
    from memtool.sweep import SweepConfig, run_sweep

    _register()
    pattern = "^(" + "|".join(l.replace(".", r"\.") for l in layers) + ")$"
    config = SweepConfig(
        models=["tf_efficientnet_lite0"],
        data="demo",
        limit=40,
        folds=2,
        n_boot=10,
        layers=pattern,
        brain=[BENCHMARK],
        brain_features="brainscore",
        pca_images=str(SHARED / "lnsim" / "images"),
        memory_budget_gb=budget,
    )
    # the memorability part first, so that the sweep below (which skips it) is the brain part
    run_sweep(replace(config, brain=[]), work / "bench.duckdb")
    _reset_peak()
    t0, c0 = time.perf_counter(), _cpu()
    result = run_sweep(config, work / "bench.duckdb")
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    phase_peak = _phase_peak_gib()
    s = result.models[0].seconds
    brain = s.get("brain_pca", 0) + s.get("brain_extract", 0) + s.get("brain_score", 0)
    raw = dict(
        Store(work / "bench.duckdb").query("SELECT layer_name, raw FROM brain_scores ORDER BY layer_name")[1]
    )
    return {
        "seconds": brain,
        "wall": wall,
        "cpu": cpu,
        "phase_peak_gib": phase_peak,
        "parts": {k: s.get(k) for k in ("brain_pca", "brain_extract", "brain_score")},
        "raw": raw,
    }


def child_brainscore(layers: list[str], work: Path) -> dict:
    factory = _register()
    from brainscore_vision.model_helpers.brain_transformation.neural import LayerScores

    from tests.brain._benchmarks import brainscore_lite0_wrapper

    identifier = f"memtool-bench-lite0-{os.getpid()}"
    wrapper = brainscore_lite0_wrapper(identifier)
    _reset_peak()
    t0, c0 = time.perf_counter(), _cpu()
    scores = LayerScores(identifier, wrapper, visual_degrees=8)(
        benchmark=factory(), layers=layers, prerun=True
    )
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": _cpu() - c0,
        "phase_peak_gib": _phase_peak_gib(),
        "ceiled": [float(v) for v in scores.values],
    }


def _imagenet_stand_in(work: Path) -> Path:
    """_get_imagenet_val reads <MT_IMAGENET_PATH>-files/<50 i>.png when present."""
    import h5py

    hdf5 = work / "imagenet2012.hdf5"
    h5py.File(hdf5, "w").close()
    files = work / "imagenet2012.hdf5-files"
    files.mkdir()
    for i, image in enumerate(sorted((SHARED / "lnsim" / "images").glob("*.jpg"))[:1000]):
        os.symlink(image, files / f"{50 * i}.png")
    return hdf5


def run_child(kind: str, layers: list[str], budget: float, threads: int, work: Path) -> dict:
    out = work / f"{kind}-{len(layers)}.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "MEMTOOL_PCA_CACHE": "off",
        "MT_IMAGENET_PATH": str(work / "imagenet2012.hdf5"),
        "RESULTCACHING_HOME": str(work / "result_caching"),
        "BRAINSCORE_HOME": str(work / "bs"),
        "RESULTCACHING_DISABLE": "brainscore_vision.model_helpers.activations.pca,"
        "brainscore_vision.model_helpers.brain_transformation.neural",
        "MEMTOOL_CACHE": str(work / "memtool-cache"),
        "BS_INSTALL_DEPENDENCIES": "no",
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--layers",
            ",".join(layers),
            "--budget-gb",
            str(budget),
            "--out",
            str(out),
            "--work",
            str(work),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read()
    if status != 0:
        raise SystemExit(f"{kind} child failed:\n{stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["peak_gib"] = usage.ru_maxrss / 2**20  # kB -> GiB
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-gb", type=float, default=0.5, help="memtool --memory-budget")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--few", default=",".join(FEW), help="comma-separated layers of the small run")
    ap.add_argument("--many", default=",".join(MANY), help="comma-separated layers of the large run")
    ap.add_argument("--child", choices=["memtool", "brainscore"])
    ap.add_argument("--layers")
    ap.add_argument("--out")
    ap.add_argument("--work")
    args = ap.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
        layers = args.layers.split(",")
        work = Path(args.work) / f"{args.child}-{len(layers)}"
        work.mkdir()
        result = (
            child_memtool(layers, args.budget_gb, work)
            if args.child == "memtool"
            else child_brainscore(layers, work)
        )
        Path(args.out).write_text(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="memtool-bench-") as tmp:
        work = Path(tmp)
        _imagenet_stand_in(work)
        print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
        rows = []
        for layers in (args.few.split(","), args.many.split(",")):
            m = run_child("memtool", layers, args.budget_gb, args.threads, work)
            b = run_child("brainscore", layers, args.budget_gb, args.threads, work)
            rows.append((layers, m, b))
            print(
                f"{len(layers)} layers: memtool {m['seconds']:.1f} s (fit {m['parts']['brain_pca']:.1f}, "
                f"extract {m['parts']['brain_extract']:.1f}, score {m['parts']['brain_score']:.1f}), "
                f"peak {m['peak_gib']:.2f} GiB (brain part {m['phase_peak_gib']:.2f}) | brainscore "
                f"{b['seconds']:.1f} s, peak {b['peak_gib']:.2f} GiB (LayerScores "
                f"{b['phase_peak_gib']:.2f}) | time ratio memtool/brainscore "
                f"{m['seconds'] / b['seconds']:.2f} | CPU seconds memtool {m['cpu']:.0f} (whole sweep, "
                f"brain part) / brainscore {b['cpu']:.0f} = {m['cpu'] / b['cpu']:.2f} | load "
                f"{open('/proc/loadavg').read().split()[:3]}",
                flush=True,
            )
        (few, m1, b1), (many, m2, b2) = rows
        print(
            f"peak memory, {len(few)} -> {len(many)} layers: memtool {m1['peak_gib']:.2f} -> "
            f"{m2['peak_gib']:.2f} GiB, brain part {m1['phase_peak_gib']:.2f} -> "
            f"{m2['phase_peak_gib']:.2f} GiB (budget {args.budget_gb} GiB); brainscore "
            f"{b1['peak_gib']:.2f} -> {b2['peak_gib']:.2f} GiB, LayerScores "
            f"{b1['phase_peak_gib']:.2f} -> {b2['phase_peak_gib']:.2f} GiB"
        )


if __name__ == "__main__":
    main()
