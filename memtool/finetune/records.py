"""Reads and writes of the fine-tuning tables (sql/schema/002_finetune.sql).

Every call opens one short-lived connection through :class:`memtool.store.Store`, so a
training process never holds the database between two epochs and ``memtool query`` or
the TUI can read the rows while training runs.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Sequence

from memtool.store import Store

RUN_COLUMNS = (
    "finetune_id",
    "run_id",
    "model",
    "random_init",
    "dataset_id",
    "dataset",
    "split",
    "val_source",
    "recipe",
    "status",
    "error",
    "n_train",
    "n_val",
    "n_test",
    "epochs_planned",
    "epochs_done",
    "best_epoch",
    "best_val_rho",
    "stopped_early",
    "test_rho",
    "test_ci_low",
    "test_ci_high",
    "test_loss",
    "penultimate_layer",
    "finetuned_model_id",
    "checkpoint",
    "out_dir",
    "device",
    "seconds",
    "started_at",
    "updated_at",
    "finished_at",
)
EPOCH_COLUMNS = (
    "finetune_id",
    "epoch",
    "train_loss",
    "val_loss",
    "val_rho",
    "lr",
    "seconds",
    "eval_seconds",
    "images_per_s",
    "is_best",
)
EVALUATION_COLUMNS = (
    "predictor_id",
    "predictor",
    "dataset_id",
    "dataset",
    "split",
    "part",
    "n_images",
    "rho",
    "ci_low",
    "ci_high",
    "n_boot",
    "seconds",
)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _value(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, float) and v != v:  # NaN -> NULL
        return None
    return v


class FinetuneRecords:
    """Typed access to ``finetune_runs``, ``finetune_epochs``, ``predictions``, ``evaluations``."""

    def __init__(self, store: Store):
        self.store = store

    # -- runs ---------------------------------------------------------------------------
    def get_run(self, finetune_id: str) -> dict | None:
        with self.store.writer() as con:
            cur = con.execute("SELECT * FROM finetune_runs WHERE finetune_id = ?", [finetune_id])
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cur.description], row))

    def upsert_run(self, row: dict) -> None:
        """Insert the run or update the given columns (``updated_at`` is set here)."""
        row = {**row, "updated_at": now()}
        cols = [c for c in row if c in RUN_COLUMNS]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("finetune_id", "started_at"))
        with self.store.writer() as con:
            con.execute(
                f"INSERT INTO finetune_runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT (finetune_id) DO UPDATE SET {updates}",
                [_value(row[c]) for c in cols],
            )

    def update_run(self, finetune_id: str, **values) -> None:
        values["updated_at"] = now()
        cols = [c for c in values if c in RUN_COLUMNS]
        with self.store.writer() as con:
            con.execute(
                f"UPDATE finetune_runs SET {', '.join(f'{c} = ?' for c in cols)} WHERE finetune_id = ?",
                [_value(values[c]) for c in cols] + [finetune_id],
            )

    # -- epochs -------------------------------------------------------------------------
    def write_epoch(self, row: dict, run_update: dict) -> None:
        """One epoch's row and the run's progress columns, in one transaction."""
        run_update = {**run_update, "updated_at": now()}
        with self.store.writer() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute(
                f"INSERT OR REPLACE INTO finetune_epochs ({', '.join(EPOCH_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(EPOCH_COLUMNS))})",
                [_value(row.get(c)) for c in EPOCH_COLUMNS],
            )
            con.execute(
                f"UPDATE finetune_runs SET {', '.join(f'{c} = ?' for c in run_update)} WHERE finetune_id = ?",
                [_value(v) for v in run_update.values()] + [row["finetune_id"]],
            )
            con.execute("COMMIT")

    def drop_epochs_after(self, finetune_id: str, epoch: int) -> int:
        """Delete epoch rows later than ``epoch`` (a resumed run repeats them)."""
        with self.store.writer() as con:
            n = con.execute(
                "SELECT count(*) FROM finetune_epochs WHERE finetune_id = ? AND epoch > ?",
                [finetune_id, epoch],
            ).fetchone()[0]
            con.execute(
                "DELETE FROM finetune_epochs WHERE finetune_id = ? AND epoch > ?", [finetune_id, epoch]
            )
        return int(n)

    def epochs(self, finetune_id: str) -> list[dict]:
        with self.store.writer() as con:
            cur = con.execute(
                "SELECT * FROM finetune_epochs WHERE finetune_id = ? ORDER BY epoch", [finetune_id]
            )
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    # -- predictions and evaluations ------------------------------------------------------
    def write_predictions(
        self, predictor_id: str, predictor: str, images: Sequence[str], scores: Sequence[float]
    ) -> None:
        with self.store.writer() as con:
            con.execute("BEGIN TRANSACTION")
            con.executemany(
                "INSERT OR REPLACE INTO predictions (predictor_id, predictor, image, score) VALUES (?,?,?,?)",
                [[predictor_id, predictor, str(i), _value(float(s))] for i, s in zip(images, scores)],
            )
            con.execute("COMMIT")

    def write_evaluation(self, row: dict) -> None:
        with self.store.writer() as con:
            con.execute(
                f"INSERT OR REPLACE INTO evaluations ({', '.join(EVALUATION_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(EVALUATION_COLUMNS))})",
                [_value(row.get(c)) for c in EVALUATION_COLUMNS],
            )
