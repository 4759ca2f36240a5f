"""What should a memorability head read? Linear probes of several feature sets of one network.

For the frozen pretrained network (default EfficientNet-Lite0) on LNSIM, with the seeded
5-fold split every memtool command uses, this fits the sweep's own ridge readout
(``memtool.finetune.heads.ridge_head``: standardised features, the 41-point penalty grid,
exact leave-one-out choice, exactly the LP-FT head) on each fold's training images and
reports the test Spearman rho of these head inputs:

  penultimate       the classifier's input (timm: ``global_pool``), the study's layer
  stages            the pooled outputs of the stages of ``memtool.models.stage_head``
                    (timm's ``feature_info``), concatenated: the default stage head
  stages+penult     both
  blocks            every top-level block output (``blocks.N``) and ``conv_head``, pooled
  best layer        (``--inner-best``) the single best module, chosen within each fold's
                    training images by the sweep's 5-fold readout (pooled rho) over every
                    leaf module and every module at most three levels deep: the best-layer
                    probe without the benchmark's look at the test folds

Every feature is the spatial mean of a module's output on the evaluation view at
``--img-size``; one pass over the images serves every row.

    python benchmarks/head_features.py [--img-size 112] [--fold 1 --fold 2 --fold 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = f"lnsim:{ROOT.parent / 'shared' / 'data' / 'lnsim'}"


def pooled_features(model, dataset, names, data_config, batch_size=64):
    """{module name: (images, channels) spatial means} for the evaluation views."""
    import numpy as np
    import torch

    from memtool.data.images import read_rgb
    from memtool.finetune.recipe import eval_transform

    transform = eval_transform(data_config)
    store: dict[str, list] = {n: [] for n in names}
    handles = [
        model.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: store[n].append(
                (out.mean(dim=(2, 3)) if out.ndim == 4 else out.reshape(out.shape[0], -1)).float().numpy()
            )
        )
        for n in names
    ]
    with torch.inference_mode():
        for start in range(0, len(dataset.paths), batch_size):
            model(torch.stack([transform(read_rgb(p)) for p in dataset.paths[start : start + batch_size]]))
    for h in handles:
        h.remove()
    return {n: np.concatenate(v).astype(np.float64) for n, v in store.items() if v}  # modules that ran


def best_layer(feats, y, train) -> str:
    """The module whose 5-fold readout within ``train`` has the best pooled rho."""
    import numpy as np

    from memtool.data.splits import kfold_splits
    from memtool.scoring.readout import ReadoutConfig
    from memtool.scoring.readout_torch import score_layers

    inner = kfold_splits(len(train), 5, seed=1)
    names = [n for n in feats if feats[n].shape[1] >= 8]
    scores = {}
    for start in range(0, len(names), 16):
        chunk = names[start : start + 16]
        for n, s in zip(
            chunk, score_layers([feats[n][train] for n in chunk], y[train], inner, ReadoutConfig(n_boot=10))
        ):
            scores[n] = -np.inf if np.isnan(s.pooled.rho) else s.pooled.rho
    return max(names, key=lambda n: scores[n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--img-size", type=int, default=112)
    parser.add_argument("--fold", type=int, action="append", help="folds to report (default 1 2 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inner-best", action="store_true", help="add the best-layer row (slower)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from memtool.finetune.data import load_split_dataset, split_parts
    from memtool.finetune.heads import ridge_head
    from memtool.finetune.recipe import input_config
    from memtool.models.layers import enumerate_layers
    from memtool.models.registry import load_model
    from memtool.models.stage_head import stage_names
    from memtool.scoring.stats import spearman

    torch.set_num_threads(args.threads)
    folds = args.fold or [1, 2, 3]
    loaded = load_model(args.model)
    model = loaded.module.eval()
    config = input_config(loaded.data_config, args.img_size)
    dataset = load_split_dataset(args.data, 1, folds=5, seed=0, limit=None)
    penultimate = enumerate_layers(model, "penultimate")[0].name
    stages = stage_names(model, config["input_size"])
    top = [n for n, _ in model.named_children()]
    blocks = [f"blocks.{i}" for i in range(len(model.get_submodule("blocks")))] if "blocks" in top else []
    blocks += [n for n in ("conv_head",) if n in top]
    rows = {
        "penultimate": [penultimate],
        "stages": stages,
        "stages+penult": [*stages, penultimate],
    }
    if blocks:
        rows["blocks"] = blocks
    wanted = {n for ls in rows.values() for n in ls}
    if args.inner_best:
        wanted |= {n for n, m in model.named_modules() if n and (n.count(".") <= 2 or not list(m.children()))}
    t0 = time.perf_counter()
    feats = pooled_features(model, dataset, sorted(wanted), config)
    extract_s = time.perf_counter() - t0
    y = dataset.scores
    table = {name: {} for name in rows}
    chosen = {}
    for fold in folds:
        parts = split_parts(dataset, fold, val_fraction=0.1, seed=0)
        train, test = np.concatenate([parts.train, parts.val]), parts.test
        if args.inner_best:
            rows["best layer"] = [best_layer(feats, y, train)]
            chosen[fold] = rows["best layer"][0]
            table.setdefault("best layer", {})
        for name, layers in rows.items():
            X = np.concatenate([feats[n] for n in layers], axis=1)
            weight, bias, _ = ridge_head(X[train], y[train])
            table[name][fold] = spearman(X[test] @ weight + bias, y[test])
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"
    print(
        f"{loaded.name}, {dataset.name} ({len(y)} images), {args.img_size} px, folds {folds}; "
        f"one pass {extract_s:.0f} s; load {load}"
    )
    print(
        f"{'head reads':<15}{'features':>9}"
        + "".join(f"{'fold' + str(f):>9}" for f in folds)
        + f"{'mean':>9}"
    )
    for name, layers in rows.items():
        width = sum(feats[n].shape[1] for n in layers)
        values = [table[name][f] for f in folds]
        print(f"{name:<15}{width:>9}" + "".join(f"{v:>9.4f}" for v in values) + f"{np.mean(values):>9.4f}")
    print("stages:", ", ".join(stages))
    if chosen:
        print("best layer per fold:", ", ".join(f"{f}: {n}" for f, n in chosen.items()))


if __name__ == "__main__":
    main()
