"""The fine-tuning screen on a store with fine-tuning jobs written by memtool's own records."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from memtool.analysis import spearman
from memtool.finetune.records import FinetuneRecords
from memtool.store import Store
from memtool.tui import create_app
from memtool.tui.screens import FinetuneScreen
from memtool.tui.widgets import VirtualTable
from tests.tui.conftest import SIZE, settle

T0 = datetime(2026, 2, 3, 4, 5, 6)
# model name, test rho, IT similarity of the fine-tuned penultimate layer
JOBS = [
    ("timm:tf_efficientnet_lite0", 0.61, 0.42),
    ("timm:resnet18", 0.55, 0.35),
    ("torchvision:alexnet", 0.47, 0.38),
]


def add_finetuning(path) -> None:
    store = Store(path)
    records = FinetuneRecords(store)
    penultimate = dict(
        store.query(
            "SELECT name, arg_max(layer_name, layer_index) FILTER (WHERE alias_of IS NULL"
            " AND layer_index < n_layers - 1) FROM models JOIN layers USING (model_id) GROUP BY name"
        )[1]
    )
    for i, (model, test_rho, it) in enumerate(JOBS):
        fid, ft_model = f"ft{i}", f"{model}@ft{i}"
        records.upsert_run(
            {
                "finetune_id": fid,
                "model": model,
                "dataset_id": "ds0000000001",
                "dataset": "demo",
                "split": "fold1",
                "val_source": "carved: 0.1 of train, seed 0",
                "recipe": {"lr": 1e-4},
                "status": "running",
                "epochs_planned": 3,
                "epochs_done": 0,
                "penultimate_layer": penultimate[model],
                "finetuned_model_id": ft_model,
                "started_at": T0 + timedelta(minutes=i),
            }
        )
        for epoch in (1, 2, 3):
            records.write_epoch(
                {
                    "finetune_id": fid,
                    "epoch": epoch,
                    "train_loss": 1.0 / epoch,
                    "val_loss": 1.1 / epoch,
                    "val_rho": test_rho - 0.1 / epoch,
                    "is_best": True,
                },
                {"epochs_done": epoch, "best_epoch": epoch, "best_val_rho": test_rho - 0.1 / epoch},
            )
        records.update_run(
            fid,
            status="completed",
            test_rho=test_rho,
            test_ci_low=test_rho - 0.05,
            test_ci_high=test_rho + 0.05,
            finished_at=T0 + timedelta(hours=1, minutes=i),
        )
        store.upsert_model(
            {
                "model_id": ft_model,
                "name": f"checkpoint:{fid}",
                "source": "checkpoint",
                "arch": model.split(":")[1],
                "weights_source": f"checkpoint:{fid}.pt",
                "weights_id": fid,
            }
        )
        store.replace_layers(
            ft_model,
            [
                {
                    "model_id": ft_model,
                    "layer_name": penultimate[model],
                    "layer_index": 0,
                    "relative_depth": 0.97,
                    "module_type": "Linear",
                }
            ],
        )
        store.insert_scores(
            [
                {
                    "run_id": "run000000001",
                    "model_id": ft_model,
                    "layer_name": penultimate[model],
                    "dataset_id": "ds0000000001",
                    "setup_id": "brainsetup01",
                    "target": "IT",
                    "fold": "pooled",
                    "metric": "pls",
                    "score": it,
                    "reducer": "pool",
                }
            ]
        )


@pytest.fixture
def finetune_db(store_copy):
    add_finetuning(store_copy)
    return store_copy


async def test_jobs_curves_and_the_penultimate_relation(finetune_db):
    app = create_app(finetune_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FinetuneScreen)
        assert not screen.query_one("#ft-empty").display
        table = screen.query_one("#ft-jobs", VirtualTable)
        assert table.row_count == 3
        newest = table.current_row  # newest first: alexnet started last
        assert table.cell(newest, "model") == "torchvision:alexnet"
        assert table.cell(newest, "epochs") == "3/3" and table.cell(newest, "test_rho") == 0.47
        assert table.cell(newest, "IT") == pytest.approx(0.38)
        assert screen.curve_info == (
            "torchvision:alexnet · demo fold1: train loss, val loss, val rho over 3 epochs"
        )

        assert "fine-tuned 3, pretrained 3 models" in screen.relation_info
        assert "penultimate IT" in screen.relation_info
        expected = spearman([j[1] for j in JOBS], [j[2] for j in JOBS])
        stats = str(screen.query_one("#ft-relation-stats").render())
        assert f"fine-tuned layer {expected:+.2f} (n=3)" in stats

        await pilot.press("down")
        assert screen.curve_info.startswith("timm:resnet18")
        await pilot.press("t")  # regions V1, V2, V4, IT: from IT back to V1
        assert screen.brain_region == "V1"
        assert "penultimate V1" in screen.relation_info
        # no fine-tuned V1 scores were written: only the pretrained layers have points
        assert "fine-tuned 0, pretrained 3 models" in screen.relation_info


async def test_a_job_without_epochs_yet_is_listed(store_copy):
    FinetuneRecords(Store(store_copy)).upsert_run(
        {
            "finetune_id": "ft-new",
            "model": "timm:resnet18",
            "dataset_id": "ds0000000001",
            "dataset": "demo",
            "split": "fold1",
            "val_source": "carved",
            "recipe": {},
            "status": "running",
            "epochs_planned": 5,
            "epochs_done": 0,
            "started_at": T0,
        }
    )
    app = create_app(store_copy, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#ft-jobs", VirtualTable).row_count == 1
        assert "no epoch finished yet" in screen.curve_info
        assert "not scored yet" in screen.relation_info
