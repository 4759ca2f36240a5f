"""Issue 10, defect 2 and part of 9: degenerate data is refused, bad files named honestly."""

from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

try:
    from ._data_fixtures import make_jpeg
except ImportError:
    from _data_fixtures import make_jpeg

from memtool.cli.main import app
from memtool.data.memorability import load_memorability
from memtool.errors import DataError
from memtool.sweep import SweepConfig, run_sweep

runner = CliRunner()


def _csv(root, scores):
    lines = ["path,score"]
    for i, s in enumerate(scores):
        make_jpeg(root / f"im{i}.jpg", seed=i)
        lines.append(f"im{i}.jpg,{s}")
    (root / "scores.csv").write_text("\n".join(lines) + "\n")
    return f"csv:{root / 'scores.csv'}"


def test_all_equal_scores_are_refused_by_the_sweep_and_by_data_check(tmp_path):
    spec = _csv(tmp_path, [0.7] * 12)
    db = tmp_path / "s.duckdb"
    with pytest.raises(DataError, match="cannot be scored"):
        run_sweep(SweepConfig(models=["test_resnet"], random_init=True, data=spec, folds=3, n_boot=10), db)
    assert not db.exists()  # refused before any work
    res = runner.invoke(app, ["data", "check", spec, "--folds", "3"])
    assert res.exit_code == 3, res.output
    assert "all 12 scores are equal" in res.output and "every split can be scored" not in res.output


def test_three_images_and_three_folds_are_refused(tmp_path):
    spec = _csv(tmp_path, [0.2, 0.5, 0.9])
    res = runner.invoke(
        app,
        [
            "sweep",
            "--model",
            "test_resnet",
            "--random-init",
            "--data",
            spec,
            "--folds",
            "3",
            "--n-boot",
            "10",
            "--db",
            str(tmp_path / "s.duckdb"),
        ],
    )
    assert res.exit_code == 3, res.output
    assert "fold1 has 1 test image" in res.output and "rank correlation" in res.output
    assert "1.00" not in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["data", "check", spec, "--folds", "3"])
    assert res.exit_code == 3 and "fold1 has 1 test image" in res.output


def test_each_split_needs_enough_varying_test_images(tmp_path):
    from memtool.data.validate import scoring_problems

    # 8 images in 3 folds: test parts of 3, 3 and 2 images, so one fold is too small.
    spec = _csv(tmp_path, np.linspace(0.1, 0.9, 8).round(3).tolist())
    problems = scoring_problems(load_memorability(spec, folds=3))
    assert len(problems) == 1 and "2 test images" in problems[0]
    assert scoring_problems(load_memorability(spec, folds=2)) == []
    # Scores that vary overall but not inside a test part (a published split, say).
    from pathlib import Path

    from memtool.data.base import Item, MemorabilityDataset, Split

    scores = [0.5, 0.5, 0.5, 0.1, 0.9, 0.3, 0.7, 0.2]
    ds = MemorabilityDataset(
        name="t",
        kind="csv",
        spec="csv:t",
        root=Path("."),
        split_kind="published",
        items=[Item(f"im{i}", Path(f"im{i}.jpg"), s) for i, s in enumerate(scores)],
        splits=[Split("split1", train=np.arange(3, 8), test=np.arange(0, 3))],
    )
    assert scoring_problems(ds) == ["split1's 3 test images all score 0.5"]


def test_load_memorability_validates_on_request(tmp_path):
    spec = _csv(tmp_path, [0.7] * 12)
    assert len(load_memorability(spec, folds=3).items) == 12  # adapters alone still parse it
    with pytest.raises(DataError, match="all 12 scores are equal"):
        load_memorability(spec, folds=3, validate=True)


def test_data_check_says_ok_for_a_scorable_set():
    res = runner.invoke(app, ["data", "check", "demo", "--no-images"])
    assert res.exit_code == 0 and "every split can be scored (5 splits)" in res.output


def test_a_random_bytes_npy_is_not_called_pickled_data(tmp_path):
    from memtool.data.neural import _load_npy

    path = tmp_path / "responses.npy"
    path.write_bytes(os.urandom(256))
    with pytest.raises(DataError) as info:
        _load_npy(path)
    text = info.value.one_line()
    assert "is not a .npy file" in text and "pickle" not in text.lower()
    np.save(path, np.arange(6.0).reshape(2, 3))
    assert _load_npy(path).shape == (2, 3)
