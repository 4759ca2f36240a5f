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
    images = torch.stack([to_tensor(Image.open(paths[i % len(paths)]).convert("RGB"))
                          for i in range(args.images)])
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

    batches = [(images[i:i + batch_size], torch.arange(i, min(i + batch_size, len(images))))
               for i in range(0, len(images), batch_size)]
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
    print(json.dumps({"mode": args.child, "layers": len(probed), "extra_kib": peak - base,
                      "peak_mib": peak / 1024}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["bare", "tap50", "tapall"])
    args = parser.parse_args()
    if args.child:
        return child(args)

    model, images = build(args)
    sets = {"bare": None, "tap50": layers_for(model, images, 50), "tapall": layers_for(model, images, None)}
    run_mode("bare", model, images, None, args.batch_size)  # warm-up
    times = {m: [] for m in sets}
    for _ in range(args.rounds):
        for mode, probed in sets.items():
            times[mode].append(run_mode(mode, model, images, probed, args.batch_size))
    med = {m: statistics.median(t) for m, t in times.items()}
    print(f"{args.model}, {args.images} images at {args.size}px, batch {args.batch_size}, "
          f"{args.rounds} rounds (median seconds)")
    for mode in sets:
        n = "-" if sets[mode] is None else len(sets[mode])
        print(f"  {mode:7s} layers={n:>4}  {med[mode]:7.2f} s   ratio vs bare {med[mode] / med['bare']:.2f}")
    print("peak memory above a bare forward pass (fresh process per mode):")
    for mode in ("tap50", "tapall"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--model", args.model,
                              "--images", str(args.images), "--batch-size", str(args.batch_size),
                              "--size", str(args.size)], capture_output=True, text=True, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {mode:7s} layers={rec['layers']:>4}  +{rec['extra_kib'] / 1024:7.1f} MiB "
              f"(process peak {rec['peak_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
