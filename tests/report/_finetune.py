"""Fine-tuning rows added to a copy of the fixture store, as `memtool finetune` writes them.

Each fixture model gets one completed fine-tuning run on the demo data set (test rho 0.55,
0.60, 0.62 by name order), three epochs, a models row for the fine-tuned weights (same name,
new weights id, as the trainer records it), and pooled brain scores of the fine-tuned
penultimate layer; the fine-tuned weights also get a memorability score, which must stay
out of the pretrained figures. One more run is still 'running' and must not be shown.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from memtool.store import Store

T0 = datetime(2026, 1, 3, 4, 5, 6)
TEST_RHO = [0.55, 0.60, 0.62]
FT_BRAIN = {
    "V1": [0.20, 0.25, 0.22],
    "V2": [0.30, 0.28, 0.31],
    "V4": [0.40, 0.45, 0.50],
    "IT": [0.50, 0.58, 0.61],
}
RUN = "run000000003"


def add_finetune_results(db: Path, *, with_brain: bool = True) -> list[dict]:
    """Write the rows; return one dict per completed run (model, ids, penultimate layer)."""
    store = Store(db)
    store.migrate()
    written = []
    with store.writer() as con:
        con.execute(
            "INSERT INTO runs (run_id, kind, command, config, config_hash, memtool_version, versions,"
            " device, host, status, error, started_at, finished_at, timings) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                RUN,
                "finetune",
                "memtool finetune --model resnet18 --model alexnet --model tf_efficientnet_lite0 --data demo",
                json.dumps({}),
                "cfg3",
                "0.1.0",
                json.dumps({}),
                "cpu",
                "host",
                "completed",
                None,
                T0,
                T0 + timedelta(minutes=9),
                json.dumps({}),
            ],
        )
        models = con.execute("SELECT model_id, name FROM models ORDER BY name").fetchall()
        for k, (base_id, name) in enumerate(models):
            penultimate = con.execute(
                "SELECT layer_name FROM layers WHERE model_id = ? AND alias_of IS NULL "
                "ORDER BY layer_index DESC LIMIT 1",
                [base_id],
            ).fetchone()[0]
            tuned_id = f"{name}@ft{k}"
            con.execute(
                "INSERT INTO models SELECT ?, name, source, arch, 'checkpoint:best.pt', ?, "
                "n_params, n_layers, input_size, data_config, created_at FROM models "
                "WHERE model_id = ?",
                [tuned_id, f"ft{k}", base_id],
            )
            con.execute(
                "INSERT INTO layers SELECT ?, layer_name, layer_index, exec_order, "
                "relative_depth, module_type, output_shape, n_features, alias_of "
                "FROM layers WHERE model_id = ? AND layer_name = ?",
                [tuned_id, base_id, penultimate],
            )
            fid = f"ft{k:010d}"
            con.execute(
                "INSERT INTO finetune_runs (finetune_id, run_id, model, random_init, dataset_id,"
                " dataset, split, val_source, recipe, status, n_train, n_val, n_test,"
                " epochs_planned, epochs_done, best_epoch, best_val_rho, stopped_early, test_rho,"
                " test_ci_low, test_ci_high, test_loss, penultimate_layer, finetuned_model_id,"
                " started_at, updated_at, finished_at)"
                " VALUES (?,?,?,false,'ds0000000001','demo','fold1','carved',?,'completed',"
                " 192, 48, 60, 3, 3, 2, ?, false, ?, ?, ?, 0.8, ?, ?, ?, ?, ?)",
                [
                    fid,
                    RUN,
                    name,
                    json.dumps({"lr": 1e-4}),
                    TEST_RHO[k] - 0.02,
                    TEST_RHO[k],
                    TEST_RHO[k] - 0.1,
                    TEST_RHO[k] + 0.08,
                    penultimate,
                    tuned_id,
                    T0,
                    T0,
                    T0,
                ],
            )
            for epoch in (1, 2, 3):
                con.execute(
                    "INSERT INTO finetune_epochs (finetune_id, epoch, train_loss, val_loss,"
                    " val_rho, is_best) VALUES (?,?,?,?,?,?)",
                    [fid, epoch, 1.0 / epoch, 1.1 / epoch, 0.3 + 0.1 * epoch, epoch == 2],
                )
            con.execute(
                "INSERT INTO layer_scores (run_id, model_id, layer_name, dataset_id, setup_id,"
                " target, fold, metric, score, ci_low, ci_high, reducer, created_at)"
                " VALUES (?,?,?,'ds0000000001','setup0000001','memorability','pooled',"
                " 'spearman', 0.9, 0.85, 0.95, 'pool', ?)",
                [RUN, tuned_id, penultimate, T0],
            )
            if with_brain:
                for target, values in FT_BRAIN.items():
                    con.execute(
                        "INSERT INTO layer_scores (run_id, model_id, layer_name, dataset_id,"
                        " setup_id, target, fold, metric, score, reducer, created_at)"
                        " VALUES (?,?,?,'ds0000000001','brainsetup01',?,'pooled','pls',?,"
                        " 'pool',?)",
                        [RUN, tuned_id, penultimate, target, values[k], T0],
                    )
            written.append(
                {
                    "model": name,
                    "base_id": base_id,
                    "tuned_id": tuned_id,
                    "finetune_id": fid,
                    "penultimate": penultimate,
                    "test_rho": TEST_RHO[k],
                }
            )
        con.execute(
            "INSERT INTO finetune_runs (finetune_id, run_id, model, dataset_id, dataset, split,"
            " val_source, recipe, status, started_at, updated_at)"
            " VALUES ('ftrunning01', ?, 'torchvision:alexnet', 'ds0000000001', 'demo', 'fold2',"
            " 'carved', '{}', 'running', ?, ?)",
            [RUN, T0, T0],
        )
    return written
