"""Sweeps on a real local Ray instance (2 CPUs, no GPU): same rows, retries, shard ingestion."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from memtool.store.shards import ingest_shards, pending_shards  # noqa: E402
from memtool.progress import NullReporter  # noqa: E402
from memtool.store import Store  # noqa: E402
from memtool.sweep import SweepConfig, run_sweep  # noqa: E402
from tests._sweep_args import tiny_sweep_options  # noqa: E402

pytestmark = pytest.mark.slow
BASE = dict(random_init=True, limit=24, folds=3, n_boot=50, batch_size=8, commit_every=4)
ROWS = (
    "SELECT m.name, s.layer_name, s.fold, s.score, s.ci_low, s.ci_high, s.alpha "
    "FROM layer_scores s JOIN models m USING (model_id) ORDER BY ALL"
)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_sweep_gives_the_in_process_rows(local_ray, tmp_path):
    config = SweepConfig(models=["test_resnet", "test_efficientnet"], **BASE)
    run_sweep(config, tmp_path / "local.duckdb")
    result = run_sweep(
        config, tmp_path / "ray.duckdb", engine="ray", ray_options={"results_dir": tmp_path / "shards"}
    )
    assert [m.error for m in result.models] == [None, None]
    local, distributed = Store(tmp_path / "local.duckdb"), Store(tmp_path / "ray.duckdb")
    assert distributed.query(ROWS)[1] == local.query(ROWS)[1]
    assert (
        distributed.query("SELECT count(*) FROM layers")[1] == local.query("SELECT count(*) FROM layers")[1]
    )
    tasks = distributed.query("SELECT model, status, attempts FROM sweep_tasks ORDER BY task_id")[1]
    assert tasks == [("test_resnet", "completed", 1), ("test_efficientnet", "completed", 1)]
    # Everything on disk was ingested, once.
    assert distributed.query("SELECT count(*) FROM ingested_shards")[1][0][0] == len(
        pending_shards(tmp_path / "shards")
    )


class KillFirstWorker(NullReporter):
    """Driver-side reporter that SIGKILLs the worker scoring test_resnet once it has scored a layer."""

    def __init__(self):
        super().__init__()
        self.pids: dict[str, int] = {}
        self.killed = False

    def message(self, text):
        super().message(text)
        m = re.match(r"started (\S+) on .* pid (\d+)", text)
        if m:
            self.pids[m.group(1)] = int(m.group(2))

    def task(self, description, total):
        reporter = self

        class T:
            def advance(self, n=1):
                if (
                    not reporter.killed
                    and description.startswith("test_resnet: score")
                    and "test_resnet" in reporter.pids
                ):
                    reporter.killed = True
                    os.kill(reporter.pids["test_resnet"], signal.SIGKILL)

            def close(self):
                pass

        return T()


def test_a_killed_worker_is_retried_and_the_store_is_complete(local_ray, tmp_path):
    config = SweepConfig(models=["test_resnet", "no_such_model_xyz"], **BASE)
    reporter = KillFirstWorker()
    result = run_sweep(
        config,
        tmp_path / "ray.duckdb",
        engine="ray",
        reporter=reporter,
        ray_options={"results_dir": tmp_path / "shards", "max_retries": 2},
    )
    assert reporter.killed
    store = Store(tmp_path / "ray.duckdb")
    tasks = dict(
        (r[0], r[1:]) for r in store.query("SELECT model, status, attempts, error FROM sweep_tasks")[1]
    )
    assert tasks["test_resnet"][:2] == ("completed", 2)
    # A model error is recorded, not retried, and does not stop the study.
    assert tasks["no_such_model_xyz"][0] == "failed" and tasks["no_such_model_xyz"][1] == 1
    assert "no_such_model_xyz" in tasks["no_such_model_xyz"][2]
    assert store.query("SELECT status FROM runs")[1] == [("failed",)]
    assert [m.error is None for m in result.models] == [True, False]
    local = tmp_path / "local.duckdb"
    run_sweep(SweepConfig(models=["test_resnet"], **BASE), local)
    assert store.query(ROWS)[1] == Store(local).query(ROWS)[1]


def test_shards_of_a_killed_driver_are_ingested_exactly_once(tmp_path):
    db, shards = tmp_path / "d.duckdb", tmp_path / "shards"
    cmd = [
        sys.executable,
        "-m",
        "memtool",
        "sweep",
        "--engine",
        "ray",
        "--model",
        "test_resnet",
        "--random-init",
        *tiny_sweep_options(n_boot=3000, batch_size=8),
        "--db",
        str(db),
        "--results-dir",
        str(shards),
    ]
    driver = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None:
        if len([p for p in pending_shards(shards) if p.name.endswith("layer_scores.parquet")]) >= 2:
            break
        time.sleep(0.3)
    assert driver.poll() is None, "the sweep ended before the driver could be killed"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    driver.wait()
    written = pending_shards(shards)
    store = Store(db)
    first = ingest_shards(store, shards)
    assert first.shards == len(written) and first.rows["layer_scores"] > 0
    n_scores = store.query("SELECT count(*) FROM layer_scores")[1][0][0]
    again = ingest_shards(store, shards)
    assert again.shards == 0 and again.skipped == len(written)
    assert store.query("SELECT count(*) FROM layer_scores")[1][0][0] == n_scores
    # The CLI says the same, and a rerun skips what the shards delivered.
    out = subprocess.run(
        [sys.executable, "-m", "memtool", "ingest", str(shards), "--db", str(db)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "ingested 0 shards" in out.stdout
    pooled = store.query("SELECT count(*) FROM layer_scores WHERE fold = 'pooled'")[1][0][0]
    rerun = subprocess.run(
        cmd[:4] + cmd[6:],
        capture_output=True,
        text=True,  # local engine
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{pooled} layers already scored" in rerun.stdout
