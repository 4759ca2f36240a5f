"""Two sweeps writing one store at once both finish, with the rows of a single sweep."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from memtool.store import Store
from tests._sweep_args import tiny_sweep_options

ARGS = [
    "sweep",
    "--model",
    "test_resnet",
    "--random-init",
    *tiny_sweep_options(n_boot=50, batch_size=8),
]
ROWS = (
    "SELECT model_id, layer_name, setup_id, target, fold, score, ci_low, ci_high, alpha "
    "FROM layer_scores ORDER BY ALL"
)


@pytest.mark.slow
def test_two_concurrent_writers_give_the_rows_of_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    shared = tmp_path / "shared.duckdb"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "memtool", *ARGS, "--db", str(shared)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    alone = tmp_path / "alone.duckdb"
    subprocess.run(
        [sys.executable, "-m", "memtool", *ARGS, "--db", str(alone)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert Store(shared).query(ROWS)[1] == Store(alone).query(ROWS)[1]
    assert Store(shared).query("SELECT DISTINCT status FROM runs")[1] == [("completed",)]
    assert Store(shared).query("SELECT count(*) FROM sweep_tasks WHERE status = 'completed'")[1] == [(2,)]
