"""How much does capturing every layer cost on top of a bare forward pass?

For one model and N images at one batch size, on one device, this times
  bare   the model's forward pass over the images, no hooks;
  tap50  the sweep's extraction (LayerTap + default reducer) of the first 50 layers;
  tapall the same for every scorable layer (named_modules minus aliases);
alternating the modes over several rounds and reporting medians, then the ratio
tap/bare measured in the same run (the number to look at: absolute times drift).
Peak memory of each mode is measured in a fresh subprocess (ru_maxrss over the
bare-forward baseline), since features are what should not grow with the layer count.

    python benchmarks/sweep_overhead.py --model resnet18 --images 256 --batch-size 32

End-to-end mode (``--end-to-end DIR``: a folder of JPEGs, e.g. ../shared/data/lnsim/images,
with scores.csv next to it for the readout) times, with the same loader for both
(the sweep's memtool.sweep.image_batches: decode + resize in --workers processes, uint8,
normalisation on the device; nothing cached, so both decode every file):
  bare   JPEG files -> decode -> forward, no hooks;
  e2e    JPEG files -> decode -> forward with every scorable layer tapped and pooled ->
         the torch memorability readout (5-fold, 1,000 bootstraps) of every layer,
and prints both, their ratio (goal <= 1.5 for resnet18 at 224 px on 2,000 images) and the
load average:

    python benchmarks/sweep_overhead.py --end-to-end ../shared/data/lnsim/images --images 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def build(args):
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model(args.model, pretrained=False).eval()
    # Real pixels: the bundled demo images, repeated to N, at the requested resolution.
    from memtool.data.memorability import load_memorability
    from PIL import Image

    paths = load_memorability("demo").paths
    tf = __import__("torchvision").transforms
    to_tensor = tf.Compose([tf.Resize(args.size), tf.CenterCrop(args.size), tf.ToTensor()])
    images = torch.stack(
        [to_tensor(Image.open(paths[i % len(paths)]).convert("RGB")) for i in range(args.images)]
    )
    return model, images


def layers_for(model, images, count):
    from memtool.extract.tap import probe_layers
    from memtool.models.layers import enumerate_layers

    probed = [p for p in probe_layers(model, enumerate_layers(model, "all"), images[:2]) if p.scorable]
    return probed if count is None else probed[:count]


def run_mode(mode, model, images, probed, batch_size):
    import torch

    from memtool.extract.reducers import make_reducer
    from memtool.extract.tap import LayerTap, run_batches

    batches = [
        (images[i : i + batch_size], torch.arange(i, min(i + batch_size, len(images))))
        for i in range(0, len(images), batch_size)
    ]
    start = time.perf_counter()
    if mode == "bare":
        with torch.no_grad():
            for x, _ in batches:
                model(x)
    else:
        with LayerTap(model, probed, make_reducer("pool"), len(images)) as tap:
            run_batches(model, tap, batches, torch.device("cpu"), autocast=False)
    return time.perf_counter() - start


def child(args):
    """One mode in a fresh process: report its peak RSS above the bare baseline."""
    model, images = build(args)
    probed = layers_for(model, images, {"tap50": 50, "tapall": None}.get(args.child))
    run_mode("bare", model, images, probed, args.batch_size)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_mode(args.child, model, images, probed, args.batch_size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"mode": args.child, "layers": len(probed), "extra_kib": peak - base, "peak_mib": peak / 1024}
        )
    )


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


def end_to_end(args):
    """bare vs e2e over JPEG files on disk with the sweep's own loader and readout."""
    import csv
    from pathlib import Path
    from types import SimpleNamespace

    import numpy as np
    import torch

    from memtool.data.images import DecodeCache, default_workers
    from memtool.memory import keep_freed_memory
    from memtool.data.splits import kfold_splits
    from memtool.extract.reducers import make_reducer
    from memtool.extract.tap import LayerTap, probe_layers, run_batches
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import load_model
    from memtool.scoring.readout import ReadoutConfig
    from memtool.scoring.readout_torch import score_layers
    from memtool.sweep import image_batches

    keep_freed_memory()  # the sweep's malloc settings, for both modes
    folder = Path(args.end_to_end)
    files = sorted(folder.glob("*.jpg"))
    scores = {}
    table = folder.parent / "scores.csv"
    if table.exists():
        with open(table) as fh:
            scores = {r["image"]: float(r["memorability"]) for r in csv.DictReader(fh)}
    paths = [files[i % len(files)] for i in range(args.images)]
    rng = np.random.default_rng(0)
    y = np.asarray([scores.get(p.name, float("nan")) for p in paths])
    y = np.where(np.isfinite(y), y, rng.random(len(y)))
    device = torch.device(args.device)
    loaded = load_model(args.model, random_init=True)
    model = loaded.module.to(device).eval()
    workers = args.workers if args.workers is not None else default_workers(device.type)
    ctx = SimpleNamespace(
        device=device, config=SimpleNamespace(batch_size=args.batch_size), decoded=DecodeCache(0)
    )
    first = next(iter(image_batches(ctx, paths[:2], loaded.transform, 0)))[0]
    probed = [p for p in probe_layers(model, enumerate_layers(model, "all"), first) if p.scorable]
    reducer = make_reducer("pool")
    splits = kfold_splits(len(paths), 5, seed=0)
    readout = ReadoutConfig()

    def bare():
        with torch.no_grad():
            for images, _ in image_batches(ctx, paths, loaded.transform, workers):
                model(images)

    def e2e():
        with LayerTap(model, probed, reducer, len(paths)) as tap:
            run_batches(
                model, tap, image_batches(ctx, paths, loaded.transform, workers), device, autocast=False
            )
        t_score = time.perf_counter()
        names = [p.name for p in probed]
        for c0 in range(0, len(names), 8):
            chunk = names[c0 : c0 + 8]
            feats = [reducer.finalize(n, tap.features.pop(n)) for n in chunk]
            score_layers(feats, y, splits, readout, device=device)
        return time.perf_counter() - t_score

    load_before = loadavg()
    times = {"bare": [], "e2e": []}
    score_s = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        bare()
        times["bare"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        score_s.append(e2e())
        times["e2e"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{args.model} at {loaded.data_config.get('input_size')}, {len(paths)} JPEGs from {folder}, "
        f"batch {args.batch_size}, {workers} loader workers, {len(probed)} layers, device "
        f"{device}, torch threads {torch.get_num_threads()}; median of {args.rounds}; "
        f"load average {load_before} -> {loadavg()}"
    )
    print(f"  bare  {med['bare']:8.1f} s  ({len(paths) / med['bare']:.1f} img/s)")
    print(
        f"  e2e   {med['e2e']:8.1f} s  ({len(paths) / med['e2e']:.1f} img/s; readout of all "
        f"layers {statistics.median(score_s):.1f} s)   ratio vs bare {med['e2e'] / med['bare']:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--end-to-end",
        default=None,
        metavar="DIR",
        help="folder of JPEGs: time files -> decode -> forward -> readout",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["bare", "tap50", "tapall"])
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.end_to_end:
        return end_to_end(args)

    model, images = build(args)
    sets = {"bare": None, "tap50": layers_for(model, images, 50), "tapall": layers_for(model, images, None)}
    run_mode("bare", model, images, None, args.batch_size)  # warm-up
    times = {m: [] for m in sets}
    for _ in range(args.rounds):
        for mode, probed in sets.items():
            times[mode].append(run_mode(mode, model, images, probed, args.batch_size))
    med = {m: statistics.median(t) for m, t in times.items()}
    print(
        f"{args.model}, {args.images} images at {args.size}px, batch {args.batch_size}, "
        f"{args.rounds} rounds (median seconds)"
    )
    for mode in sets:
        n = "-" if sets[mode] is None else len(sets[mode])
        print(f"  {mode:7s} layers={n:>4}  {med[mode]:7.2f} s   ratio vs bare {med[mode] / med['bare']:.2f}")
    print("peak memory above a bare forward pass (fresh process per mode):")
    for mode in ("tap50", "tapall"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--model",
                args.model,
                "--images",
                str(args.images),
                "--batch-size",
                str(args.batch_size),
                "--size",
                str(args.size),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {mode:7s} layers={rec['layers']:>4}  +{rec['extra_kib'] / 1024:7.1f} MiB "
            f"(process peak {rec['peak_mib']:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
