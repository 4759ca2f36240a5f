"""Progress that a log file shows: plain lines when stdout is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from memtool.progress import LineReporter

REPO = Path(__file__).resolve().parents[2]


def test_line_reporter_prints_boundaries_and_at_most_every_30_s():
    now = [0.0]
    lines: list[str] = []
    rep = LineReporter(lines.append, every=30.0, clock=lambda: now[0])
    rep.message("[2/5] resnet50")
    task = rep.task("extract 10 layers", 100)
    for _ in range(100):
        now[0] += 1.0  # 100 s in all: lines at 30, 60, 90 s
        task.advance(1)
    task.close()
    assert lines[0] == "[2/5] resnet50"
    assert lines[1] == "[model 2/5 resnet50] extract 10 layers | 0/100 | elapsed 0m00s | started"
    progress = lines[2:-1]
    assert [l.split(" | ")[1] for l in progress] == ["30/100", "60/100", "90/100"]
    assert progress[0].endswith("elapsed 0m30s | eta 1m10s")
    assert lines[-1] == "[model 2/5 resnet50] extract 10 layers | 100/100 | elapsed 1m40s | done"
    rep.context("finetune 1/4 timm:resnet50 split1")  # the study's context wins
    rep.message("[1/1] timm:resnet50")
    rep.task("epoch 1/2: train", 5).close()
    assert lines[-1].startswith("[finetune 1/4 timm:resnet50 split1] epoch 1/2: train | 0/5")


def _sweep(tmp_path: Path, *extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "sweep.log"
    with open(log, "w") as handle:  # a file, not a terminal
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "memtool",
                "sweep",
                "--model",
                "test_resnet",
                "--random-init",
                "--limit",
                "24",
                "--layers",
                "blocks",
                "--brain",
                "none",
                "--n-boot",
                "20",
                "--batch-size",
                "8",
                "--db",
                str(tmp_path / "p.duckdb"),
                *extra,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )
    text = log.read_text()
    assert proc.returncode == 0, text
    return text


def test_a_piped_sweep_writes_progress_lines(tmp_path):
    text = _sweep(tmp_path)
    lines = text.splitlines()
    starts = [l for l in lines if " | started" in l]
    dones = [l for l in lines if l.endswith(" | done")]
    assert any("extract" in l and "| 0/24 |" in l for l in starts), text
    assert any("extract" in l and "| 24/24 |" in l for l in dones), text
    assert any("score layers" in l for l in dones), text
    assert all(l.startswith("[model 1/1 ") for l in starts + dones)
    assert "\x1b[" not in text  # no terminal control codes in the log

    quiet = _sweep(tmp_path, "--quiet", "--force")
    assert " | started" not in quiet and " | done" not in quiet
