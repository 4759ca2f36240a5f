"""Does memtool's fine-tuning beat a linear probe of the same network, and ResMem?

On one memorability data set (default: LNSIM from ``../shared/data/lnsim``), with the
seeded K-fold split every memtool command uses (``--folds``, seed 0), this reports for
each chosen fold and on average the test Spearman rho of

  probe     the sweep's best-layer linear readout of the pretrained, frozen network
            (``run_sweep`` on every layer at the same input size, the layer with the
            best pooled rho; its per-fold test rho on the same folds);
  v1        fine-tuning with memtool's first recipe (``RECIPE_V1``);
  v2        fine-tuning with the previous default (``RECIPE_V2``: the head on the
            penultimate features);
  default   fine-tuning with the current default recipe (``Recipe()``: the stage head);
  resmem    ResMem zero-shot on the same test images (the ``memtool evaluate --baseline
            resmem`` code path: ``load_predictor(baseline="resmem")`` + ``evaluate``).

Every row uses the same folds and, for the networks, the same input size (``--img-size``;
ResMem runs at its own 227 px, as it ships). ``--variant NAME=JSON`` adds fine-tuning rows
with recipe overrides (the screening of ``docs/finetune.md``), ``--rows`` picks rows.
Each finished run is appended to ``--log`` (CSV) with the machine's load average, so a
long benchmark can be stopped and its numbers kept; a fine-tuning run that finished before
(same store, same recipe) is read back instead of being trained again.

    python benchmarks/finetune_quality.py --fold 1 --fold 2 --fold 3          # the table
    python benchmarks/finetune_quality.py --fold 5 --rows none \\
        --variant 'rrc={"augment": "rrc"}' --variant 'noema={"ema_decay": 0}'   # screening
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = f"lnsim:{ROOT.parent / 'shared' / 'data' / 'lnsim'}"


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ")[0]
    except OSError:
        return ""


class Log:
    """Appends one CSV row per finished measurement (and echoes it)."""

    FIELDS = [
        "time",
        "row",
        "model",
        "fold",
        "img_size",
        "test_rho",
        "val_rho",
        "best_epoch",
        "epochs_done",
        "seconds",
        "loadavg",
        "detail",
    ]

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerow(self.FIELDS)

    def write(self, **row) -> None:
        row = {"time": time.strftime("%H:%M:%S"), "loadavg": loadavg(), **row}
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.FIELDS).writerow({k: row.get(k, "") for k in self.FIELDS})
        print(" ".join(f"{k}={row.get(k, '')}" for k in self.FIELDS if row.get(k, "") != ""), flush=True)


def probe_rows(args, work: Path) -> dict[str, float]:
    """Per-fold test rho of the pretrained model's best layer, from the sweep itself."""
    import torch

    from memtool.finetune.recipe import input_config
    from memtool.models.registry import load_model
    from memtool.store import Store
    from memtool.sweep import SweepConfig, run_sweep

    loaded = load_model(args.model)
    path = work / f"pretrained-{args.img_size}.pt"
    if not path.exists():  # the pretrained weights, swept at the benchmark's input size
        torch.save(
            {
                "model": loaded.name,
                "state_dict": loaded.module.state_dict(),
                "data_config": input_config(loaded.data_config, args.img_size),
            },
            path,
        )
    db = work / "probe.duckdb"
    t0 = time.perf_counter()
    run_sweep(
        SweepConfig(
            models=[str(path)],
            data=args.data,
            layers=args.probe_layers,
            folds=args.folds,
            seed=0,
            batch_size=32,
            device=args.device,
            n_boot=100,
        ),
        db,
        command="benchmarks/finetune_quality.py (probe)",
    )
    seconds = time.perf_counter() - t0
    _, rows = Store(db).query(
        "SELECT layer_name, fold, score FROM layer_scores "
        "WHERE target = 'memorability' AND metric = 'spearman'"
    )
    by_layer: dict[str, dict[str, float]] = {}
    for layer, fold, rho in rows:
        if rho is not None:
            by_layer.setdefault(layer, {})[fold] = rho
    best = max((v.get("pooled", float("-inf")), k) for k, v in by_layer.items())[1]
    return {"layer": best, "seconds": seconds, **by_layer[best]}


def resmem_predictions(args, dataset, work: Path):
    """ResMem's score for every image (cached in ``work``; one pass over the data set)."""
    import numpy as np

    from memtool.finetune.data import split_parts
    from memtool.finetune.predict import evaluate, load_predictor

    cache = Path(args.resmem_cache) if args.resmem_cache else work / "resmem_all.npz"
    names = [p.name for p in dataset.paths]
    if cache.exists():
        saved = np.load(cache)
        lookup = dict(zip(saved["names"].tolist(), saved["pred"].tolist()))
        if all(n in lookup for n in names):
            return np.array([lookup[n] for n in names])
    parts = split_parts(dataset, 1, val_fraction=0.1, seed=0)
    ev = evaluate(
        load_predictor(baseline="resmem"),
        dataset,
        parts,
        part="all",
        n_boot=10,
        batch_size=16,
        device=args.device,
    )
    np.savez(cache, names=np.array(names), pred=ev.predictions, scores=ev.scores)
    return ev.predictions


def crop_rows(args, dataset, fold: int, log: Log) -> None:
    """Are random resized crops label-preserving? The pretrained network's linear probe
    (the ridge head of LP-FT, fitted on the training images' evaluation views) scores the
    test images as seen by evaluation, mirrored, and through random resized crops (area
    0.6-1, the previous recipe's augmentation; and 0.25-1): rho with the human scores,
    and how well each view's predictions agree with the evaluation view's."""
    import numpy as np
    import torch
    from torchvision import transforms as T

    from memtool.data.images import read_rgb
    from memtool.finetune.data import split_parts
    from memtool.finetune.heads import (
        HeadInput,
        find_head,
        load_regression_model,
        ridge_head,
    )
    from memtool.finetune.recipe import eval_transform, input_config
    from memtool.scoring.stats import spearman

    loaded = load_regression_model(args.model)
    config = input_config(loaded.data_config, args.img_size)
    module = loaded.module.eval()
    _, head = find_head(module, loaded.name)
    parts = split_parts(dataset, fold, val_fraction=0.1, seed=0)
    train = np.concatenate([parts.train, parts.val])
    evaluate = eval_transform(config)
    normalise = T.Compose([T.ToTensor(), T.Normalize(config["mean"], config["std"])])
    size = tuple(config["input_size"][1:])

    def rrc(low):
        return T.Compose([T.RandomResizedCrop(size, scale=(low, 1.0), ratio=(3 / 4, 4 / 3)), normalise])

    views = {
        "eval": evaluate,
        "flip": T.Compose([T.RandomHorizontalFlip(1.0), evaluate]),
        "rrc0.6": rrc(0.6),
        "rrc0.25": rrc(0.25),
    }

    def features(idx, transform, seed=0):
        torch.manual_seed(seed)
        out = []
        with torch.inference_mode(), HeadInput(head) as captured:
            for start in range(0, len(idx), 64):
                batch = torch.stack([transform(read_rgb(dataset.paths[i])) for i in idx[start : start + 64]])
                module(batch)
                out.append(captured.batches.pop())
        return torch.cat(out).numpy().astype(np.float64)

    t0 = time.perf_counter()
    y = dataset.scores
    weight, bias, alpha = ridge_head(features(train, evaluate), y[train])
    reference = None
    for name, transform in views.items():
        draws = 1 if name in ("eval", "flip") else 2
        preds = [features(parts.test, transform, seed=d) @ weight + bias for d in range(draws)]
        if name == "eval":
            reference = preds[0]
        rho = float(np.mean([spearman(p, y[parts.test]) for p in preds]))
        agree = float(np.mean([spearman(p, reference) for p in preds]))
        log.write(
            row=f"crops:{name}",
            model=args.model,
            fold=fold,
            img_size=args.img_size,
            test_rho=f"{rho:.4f}",
            seconds=f"{time.perf_counter() - t0:.0f}",
            detail=json.dumps({"agreement_with_eval_view": round(agree, 4), "draws": draws, "alpha": alpha}),
        )


def finetune_row(args, name: str, overrides: dict, fold: int, dataset, work: Path, log: Log):
    from memtool.finetune.recipe import Recipe
    from memtool.finetune.train import FinetuneConfig, finetune_model

    recipe = Recipe(**{"img_size": args.img_size, "batch_size": args.batch_size, **overrides})
    t0 = time.perf_counter()
    result = finetune_model(
        FinetuneConfig(
            model=args.model,
            data=args.data,
            split=fold,
            folds=args.folds,
            recipe=recipe,
            device=args.device,
            out_dir=work / "runs",
            n_boot=200,
        ),
        work / "finetune.duckdb",
        dataset=dataset,
    )
    log.write(
        row=name,
        model=args.model,
        fold=fold,
        img_size=args.img_size,
        test_rho=f"{result.test_rho:.4f}",
        val_rho=f"{result.best_val_rho:.4f}",
        best_epoch=result.best_epoch,
        epochs_done=len(result.epochs),
        seconds=f"{time.perf_counter() - t0:.0f}",
        detail=json.dumps(
            {
                "overrides": overrides,
                "status": result.status,
                "val_curve": [round(e.val_rho, 3) for e in result.epochs],
            }
        ),
    )
    return result.test_rho


def summarise(path: Path) -> None:
    """Print the table of a log (the last entry per row and fold): each row on the folds
    every reported row has, and its mean over them."""
    with open(path, newline="") as handle:
        entries = list(csv.DictReader(handle))
    table: dict[str, dict[int, float]] = {}
    for e in entries:
        if e["test_rho"]:
            table.setdefault(e["row"], {})[int(e["fold"])] = float(e["test_rho"])
    main_rows = [r for r in table if not r.startswith("crops:")]
    common = sorted(set.intersection(*(set(table[r]) for r in main_rows))) if main_rows else []
    print(f"{path}: folds every row has: {common}")
    print(f"{'row':<14}" + "".join(f"{'fold' + str(f):>9}" for f in common) + f"{'mean':>9}   other folds")
    for name, values in table.items():
        shown = [f for f in common if f in values]
        mean = sum(values[f] for f in shown) / len(shown) if shown else float("nan")
        rest = {f: round(v, 4) for f, v in values.items() if f not in common}
        print(
            f"{name:<14}"
            + "".join(f"{values[f]:>9.4f}" if f in values else f"{'-':>9}" for f in common)
            + f"{mean:>9.4f}   {rest or ''}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5, help="K of the seeded K-fold split")
    parser.add_argument("--fold", type=int, action="append", help="folds to report (default 1 2 3)")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--rows",
        default="probe,v2,default,resmem",
        help="comma-separated rows: probe, v1, v2, default, resmem, crops (the "
        "label-preservation check of random resized crops), or none",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=JSON recipe overrides, an extra fine-tuning row (repeatable)",
    )
    parser.add_argument("--probe-layers", default="all", help="layers the probe's sweep scores")
    parser.add_argument("--work", default=str(ROOT / "out" / "finetune_quality"))
    parser.add_argument("--resmem-cache", default=None, help="npz of ResMem's scores (made if missing)")
    parser.add_argument("--log", default=None, help="CSV log (default WORK/log.csv)")
    parser.add_argument("--summary", action="store_true", help="only print the table of --log")
    args = parser.parse_args()
    if args.summary:
        summarise(Path(args.log) if args.log else Path(args.work) / "log.csv")
        return

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from memtool.finetune.data import load_split_dataset, split_parts
    from memtool.finetune.recipe import RECIPE_V1, RECIPE_V2
    from memtool.scoring.stats import spearman

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = Log(Path(args.log) if args.log else work / "log.csv")
    folds = args.fold or [1, 2, 3]
    rows = [r for r in args.rows.split(",") if r and r != "none"]
    dataset = load_split_dataset(args.data, 1, folds=args.folds, seed=0, limit=None)
    table: dict[str, dict[int, float]] = {}

    if "probe" in rows:
        probe = probe_rows(args, work)
        table["probe"] = {f: probe[f"fold{f}"] for f in folds}
        for f in folds:
            log.write(
                row="probe",
                model=args.model,
                fold=f,
                img_size=args.img_size,
                test_rho=f"{probe[f'fold{f}']:.4f}",
                seconds=f"{probe['seconds']:.0f}",
                detail=json.dumps({"layer": probe["layer"], "pooled": probe.get("pooled")}),
            )
    if "crops" in rows:
        for f in folds:
            crop_rows(args, dataset, f, log)
    if "resmem" in rows:
        pred = resmem_predictions(args, dataset, work)
        table["resmem"] = {}
        for f in folds:
            test = split_parts(dataset, f, val_fraction=0.1, seed=0).test
            table["resmem"][f] = spearman(pred[test], dataset.scores[test])
            log.write(
                row="resmem", model="resmem", fold=f, img_size=227, test_rho=f"{table['resmem'][f]:.4f}"
            )
    runs = []
    if "v1" in rows:
        runs.append(("v1", dict(RECIPE_V1)))
    if "v2" in rows:
        runs.append(("v2", dict(RECIPE_V2)))
    if "default" in rows:
        runs.append(("default", {}))
    for text in args.variant:
        name, _, blob = text.partition("=")
        runs.append((name, json.loads(blob)))
    for name, overrides in runs:
        table[name] = {}
        for f in folds:
            table[name][f] = finetune_row(args, name, overrides, f, dataset, work, log)

    print(
        f"\n{args.model}, {dataset.name} ({len(dataset.items)} images), {args.folds}-fold split, "
        f"folds {folds}, {args.img_size} px; load average {loadavg()}"
    )
    print(f"{'row':<12}" + "".join(f"{'fold' + str(f):>9}" for f in folds) + f"{'mean':>9}")
    for name, values in table.items():
        mean = float(np.mean([values[f] for f in folds]))
        print(f"{name:<12}" + "".join(f"{values[f]:>9.4f}" for f in folds) + f"{mean:>9.4f}")


if __name__ == "__main__":
    main()
