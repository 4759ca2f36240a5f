"""Crash safety: an interrupted sweep keeps its committed layers and a rerun finishes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from memtool.progress import NullReporter
from memtool.store import Store
from memtool.sweep import SweepConfig, run_sweep
from tests._sweep_args import tiny_sweep_options

CONFIG = dict(
    models=["test_resnet"], random_init=True, limit=24, folds=3, n_boot=50, batch_size=8, commit_every=4
)


class InterruptAfter(NullReporter):
    """Raises KeyboardInterrupt (what Ctrl-C does) after `n` layers were scored."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def task(self, description, total):
        reporter = self

        class T:
            def advance(self, k=1):
                if description == "score layers":
                    reporter.n -= k
                    if reporter.n < 0:
                        raise KeyboardInterrupt

            def close(self):
                pass

        return T()


def pooled(db):
    return dict(
        Store(db).query(
            "SELECT layer_name, score FROM layer_scores WHERE fold = 'pooled' AND target = 'memorability'"
        )[1]
    )


def test_ctrl_c_keeps_committed_batches_and_rerun_resumes(tmp_path):
    db = tmp_path / "r.duckdb"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(SweepConfig(**CONFIG), db, reporter=InterruptAfter(10))
    store = Store(db)
    assert store.query("SELECT status FROM runs")[1] == [("interrupted",)]
    kept = pooled(db)
    assert len(kept) == 8  # two full commits of 4 layers; the batch in flight is lost
    result = run_sweep(SweepConfig(**CONFIG), db)
    outcome = result.models[0]
    assert outcome.n_skipped == 8
    total = store.query("SELECT count(*) FROM layers WHERE alias_of IS NULL AND output_shape IS NOT NULL")[1][
        0
    ][0]
    assert outcome.n_scored == total - 8
    # The resumed store holds exactly what one uninterrupted run computes.
    fresh = tmp_path / "fresh.duckdb"
    run_sweep(SweepConfig(**CONFIG), fresh)
    assert pooled(db) == pooled(fresh)


@pytest.mark.slow
def test_kill_9_mid_sweep_then_rerun_completes(tmp_path):
    db = tmp_path / "k.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "memtool",
        "sweep",
        "--model",
        "test_resnet",
        "--random-init",
        *tiny_sweep_options(n_boot=20000, batch_size=8),
        "--db",
        str(db),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    deadline = time.monotonic() + 300
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                done = len(pooled(db))
            except Exception:  # the file may be mid-creation; try again
                continue
            if done >= 8:
                break
    # Freeze it at once (SIGSTOP), so it cannot finish between this check and the kill.
    assert proc.poll() is None, "the sweep finished before it could be killed; make it slower"
    os.kill(proc.pid, signal.SIGSTOP)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(db)
    assert store.query("SELECT status FROM runs")[1] == [("running",)]  # killed: no chance to say
    survived = len(pooled(db))
    assert survived >= 8
    rerun = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert rerun.returncode == 0, rerun.stderr
    assert f"{survived} layers already scored" in rerun.stdout
    assert "had been killed before it finished" in rerun.stdout
    statuses = store.query("SELECT status, error FROM runs ORDER BY started_at")[1]
    assert [s for s, _ in statuses] == ["interrupted", "completed"]
    assert "ended without finishing" in statuses[0][1]
    total = store.query("SELECT count(*) FROM layers WHERE alias_of IS NULL AND output_shape IS NOT NULL")[1][
        0
    ][0]
    assert len(pooled(db)) == total
