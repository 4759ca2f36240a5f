"""Resuming: a run killed with SIGKILL mid-way, and one stopped by Ctrl-C, carry on where
their last epoch checkpoint left them and end exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.finetune.checkpoint import read_best
from memtool.finetune.recipe import Recipe
from memtool.finetune.train import FinetuneConfig, finetune_model
from memtool.progress import NullReporter
from memtool.store import Store
from tests.finetune.conftest import CLI_ARGS

pytestmark = pytest.mark.slow


def _saved_epoch(path) -> int | None:
    try:
        return int(torch.load(path, weights_only=True)["epoch"])
    except Exception:  # not there yet (written through a renamed temporary file)
        return None


def _wait_for_epoch_checkpoint(proc, path, timeout=600.0, epoch=1) -> None:
    """Wait for ``last.pt`` of ``epoch`` (epoch 0, the linear probe, comes first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and (_saved_epoch(path) or 0) >= epoch:
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"fine-tuning exited ({proc.returncode}) before its first checkpoint: {out[-2000:]}")
        time.sleep(0.02)
    pytest.fail("no epoch checkpoint appeared in time")


def test_sigkill_after_first_epoch_then_rerun_resumes(trained, tmp_path):
    db, out = tmp_path / "k.duckdb", tmp_path / "out"
    args = [*CLI_ARGS, "--db", str(db), "--out", str(out), "--no-penultimate", "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "memtool", "finetune", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_dir = out / trained.result.run_dir.relative_to(trained.out)
    try:
        _wait_for_epoch_checkpoint(proc, run_dir / "last.pt")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(run_dir / "last.pt", weights_only=True)["epoch"]
    assert saved == 1  # epoch 2 takes seconds; the kill came within ~20 ms of the file
    store = Store(db)
    _, rows = store.query("SELECT status, epochs_done FROM finetune_runs")
    assert rows == [("running", 1)]  # the killed process could not mark anything else
    assert store.query("SELECT epoch FROM finetune_epochs ORDER BY epoch")[1] == [(0,), (1,)]

    res = CliRunner().invoke(app, ["finetune", *args])
    assert res.exit_code == 0, res.output
    assert "resuming fold1 after epoch 1/2" in " ".join(res.output.split())
    _, rows = store.query("SELECT status, epochs_done, test_rho FROM finetune_runs")
    assert rows[0][:2] == ("completed", 2)
    _, epochs = store.query("SELECT epoch, train_loss, val_rho FROM finetune_epochs ORDER BY epoch")
    assert [e[0] for e in epochs] == [0, 1, 2]
    # Optimiser, scheduler and RNG states were restored: same numbers as without the kill.
    for (_, loss, rho), ref in zip(epochs, trained.result.epochs, strict=True):
        assert loss == pytest.approx(ref.train_loss, rel=1e-5)
        assert rho == pytest.approx(ref.val_rho, abs=1e-9)
    assert rows[0][2] == pytest.approx(trained.result.test_rho, abs=1e-9)


class InterruptOnEpoch(NullReporter):
    """Raises KeyboardInterrupt (what Ctrl-C does) when epoch ``n``'s summary is announced."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def message(self, text: str) -> None:
        super().message(text)
        if f"epoch {self.n}/" in text and "train loss" in text:
            raise KeyboardInterrupt


TINY = dict(
    model="test_resnet",
    random_init=True,
    data="demo",
    limit=40,
    folds=4,
    n_boot=50,
    recipe=Recipe(epochs=2, batch_size=8, img_size=64, val_fraction=0.25, lr=1e-3, head_init="random"),
)  # epoch 1 is then the first best one


def test_ctrl_c_then_resume_rebuilds_a_best_checkpoint_lost_in_the_kill(tmp_path):
    reference = finetune_model(FinetuneConfig(**TINY, out_dir=tmp_path / "ref"), tmp_path / "ref.duckdb")

    db = tmp_path / "i.duckdb"
    cfg = FinetuneConfig(**TINY, out_dir=tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        finetune_model(cfg, db, reporter=InterruptOnEpoch(1))
    assert Store(db).query("SELECT status FROM finetune_runs")[1] == [("interrupted",)]
    run_dir = next((tmp_path / "out").glob("*/*"))
    # As if the process had died after writing last.pt but before best.pt.
    (run_dir / "best.pt").unlink()
    reporter = NullReporter()
    resumed = finetune_model(cfg, db, reporter=reporter)
    assert resumed.resumed_from == 1 and any("resuming" in m for m in reporter.messages)
    assert [e.epoch for e in resumed.epochs] == [1, 2]
    assert [e.val_rho for e in resumed.epochs] == pytest.approx([e.val_rho for e in reference.epochs])
    assert resumed.best_epoch == reference.best_epoch
    assert read_best(resumed.checkpoint)["epoch"] == reference.best_epoch
    assert resumed.test_predictions == pytest.approx(reference.test_predictions, abs=1e-6)
