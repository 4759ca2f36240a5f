"""Does memtool's fine-tuning loop train as fast as a plain PyTorch loop?

For one model, data subset, input size and batch size, on one device, this alternates
  memtool  ``memtool.finetune.train.finetune_model`` for E epochs (fresh store and
           output folder each round, so nothing is skipped or resumed);
  plain    a hand-written loop over the same model (same regression head and weights),
           the same training images, transform, batch size, shuffling, AdamW groups,
           warm-up + cosine schedule and gradient clipping, without any bookkeeping;
over several rounds, and reports median training images per second of each and their
ratio. memtool's rate counts its training passes plus its bookkeeping (store rows and
checkpoints after every epoch), clocked through its Reporter; its validation and test
passes and the model load are excluded, since the plain loop does neither. The
train-only ratio is printed too, and both by wall clock (what counts on a dedicated GPU
machine) and per CPU second of this process (what stays meaningful on a CPU shared with
other jobs, where the wall clock mostly measures them).

    python benchmarks/finetune_throughput.py                      # CPU default: lite0, 128 px
    python benchmarks/finetune_throughput.py --model resnet50 --images 2000 --img-size 224 \
        --batch-size 64 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


class PhaseClock:
    """A memtool Reporter that clocks the training passes and the bookkeeping of each epoch.

    The trainer opens an "epoch k/E: train" task around each training pass, a
    "...: validate" task around validation, and announces the epoch once its store row
    and checkpoints are written; the bookkeeping is the time between the end of the
    validation and that announcement. Both wall-clock and process CPU time are kept: on
    a shared CPU the wall clock mostly measures the other jobs.
    """

    def __init__(self):
        self.train = [0.0, 0.0]
        self.bookkeeping = [0.0, 0.0]
        self._after_validation = None

    @staticmethod
    def now():
        return time.perf_counter(), time.process_time()

    def task(self, description, total):
        clock = self
        start = self.now()

        class Task:
            def advance(self, n=1):
                pass

            def close(self):
                end = clock.now()
                if description.endswith(": train"):
                    clock.train = [a + (e - s) for a, s, e in zip(clock.train, start, end)]
                elif description.endswith(": validate"):
                    clock._after_validation = end

        return Task()

    def message(self, text):
        if "train loss" in text and self._after_validation is not None:
            end = self.now()
            self.bookkeeping = [a + (e - s) for a, s, e in zip(self.bookkeeping, self._after_validation, end)]
            self._after_validation = None


def _v1() -> dict:
    """The plain loop reproduces the v1 recipe's training step (random head, random resized
    crops, batch statistics, no averaging), so both sides run that recipe."""
    from memtool.finetune.recipe import RECIPE_V1

    return {k: v for k, v in RECIPE_V1.items() if k not in ("epochs", "patience")}


def memtool_round(args, root: Path) -> dict:
    from memtool.finetune.recipe import Recipe
    from memtool.finetune.train import FinetuneConfig, finetune_model

    recipe = Recipe(
        **_v1(),
        epochs=args.epochs,
        batch_size=args.batch_size,
        img_size=args.img_size,
        patience=args.epochs + 1,
        val_fraction=args.val_fraction,
    )
    clock = PhaseClock()
    result = finetune_model(
        FinetuneConfig(
            model=args.model,
            data=args.data,
            limit=args.images,
            folds=args.folds,
            recipe=recipe,
            device=args.device,
            workers=args.workers,
            out_dir=root / "out",
            n_boot=10,
            random_init=args.random_init,
        ),
        root / "bench.duckdb",
        reporter=clock,
    )
    per_epoch = result.n_train // args.batch_size * args.batch_size or result.n_train  # drop_last
    seen = per_epoch * len(result.epochs)
    return {
        "wall": seen / (clock.train[0] + clock.bookkeeping[0]),
        "cpu": seen / (clock.train[1] + clock.bookkeeping[1]),
        "wall_train": seen / clock.train[0],
        "cpu_train": seen / clock.train[1],
    }


def plain_setup(args):
    """Model, loader factory and optimiser pieces for the plain loop (built once)."""
    import torch

    from memtool.finetune.data import ScoredImages, load_split_dataset, split_parts
    from memtool.finetune.heads import find_head, load_regression_model, param_groups
    from memtool.finetune.recipe import Recipe, input_config, train_transform
    from memtool.runtime import resolve_device

    recipe = Recipe(
        **_v1(),
        epochs=args.epochs,
        batch_size=args.batch_size,
        img_size=args.img_size,
        val_fraction=args.val_fraction,
    )
    dataset = load_split_dataset(args.data, 1, folds=args.folds, seed=0, limit=args.images)
    parts = split_parts(dataset, 1, val_fraction=args.val_fraction, seed=0)
    loaded = load_regression_model(args.model, random_init=args.random_init)
    config = input_config(loaded.data_config, args.img_size)
    y = dataset.scores[parts.train]
    z = (y - y.mean()) / y.std()
    images = ScoredImages(
        [dataset.paths[i] for i in parts.train], z, train_transform(config, recipe), config["input_size"]
    )
    device = resolve_device(args.device)
    head, _ = find_head(loaded.module)
    return loaded, images, device, recipe, head, param_groups, torch


def plain_round(args, setup) -> float:
    import copy

    loaded, images, device, recipe, head, param_groups, torch = setup
    from memtool.finetune.data import default_workers

    model = copy.deepcopy(loaded.module).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(param_groups(model, recipe, head), **({"fused": True} if cuda else {}))
    steps = max(1, len(images) // recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: recipe.lr_factor(s, steps))
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else None
    params = [p for p in model.parameters() if p.requires_grad]
    seen, wall, cpu = 0, 0.0, 0.0
    for epoch in range(1, recipe.epochs + 1):
        loader = torch.utils.data.DataLoader(
            images,
            batch_size=recipe.batch_size,
            shuffle=True,
            drop_last=len(images) >= recipe.batch_size,
            num_workers=default_workers(device, args.workers),
            pin_memory=cuda,
            generator=torch.Generator().manual_seed(epoch),
        )
        model.train()
        start, start_cpu = time.perf_counter(), time.process_time()
        for x, target, _, _ in loader:
            x, target = x.to(device, non_blocking=cuda), target.to(device, non_blocking=cuda)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
                with amp:
                    out = model(x)
            else:
                out = model(x)
            loss = torch.nn.functional.mse_loss(out.float().reshape(-1), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
            optimizer.step()
            scheduler.step()
            seen += target.shape[0]
        float(loss.detach())  # wait for the device, as memtool's end-of-epoch loss read does
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
    return {"wall": seen / wall, "cpu": seen / cpu}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--data", default="demo")
    parser.add_argument("--images", type=int, default=120, help="seeded subset of the data set")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--random-init", action="store_true", help="skip weight loading (speed is the same)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is steadier on a CPU shared with other jobs)",
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    setup = plain_setup(args)
    n_train = len(setup[1])
    print(
        f"{args.model}, {n_train} training images at {args.img_size} px, batch {args.batch_size}, "
        f"{args.epochs} epochs per round, device {setup[2]}, torch threads {torch.get_num_threads()}"
    )
    plain_round(args, setup)  # warm-up: caches, allocator, first-call overheads
    memtool_rates, plain_rates = [], []
    for i in range(args.rounds):
        order = ("memtool", "plain") if i % 2 == 0 else ("plain", "memtool")
        for mode in order:
            if mode == "plain":
                plain_rates.append(plain_round(args, setup))
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    memtool_rates.append(memtool_round(args, Path(tmp)))
        m, p = memtool_rates[-1], plain_rates[-1]
        print(
            f"round {i + 1}: images/s wall: memtool {m['wall']:.1f} (train passes {m['wall_train']:.1f}), "
            f"plain {p['wall']:.1f}; per CPU second: memtool {m['cpu']:.1f}, plain {p['cpu']:.1f}"
        )

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    for clock in ("wall", "cpu"):
        m, t, p = med(memtool_rates, clock), med(memtool_rates, f"{clock}_train"), med(plain_rates, clock)
        label = "images/s (wall clock)" if clock == "wall" else "images per CPU second"
        print(
            f"median {label}: memtool {m:.1f} (train passes only {t:.1f}), plain PyTorch {p:.1f}; "
            f"ratio memtool/plain {m / p:.3f} with bookkeeping, {t / p:.3f} train passes only"
        )


if __name__ == "__main__":
    main()
