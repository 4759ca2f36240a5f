"""Bad input gives one clear line and the error's exit code, never a traceback."""

from __future__ import annotations

import shutil

import pytest
import torch
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.data.memorability import demo_root
from memtool.models.registry import load_model

runner = CliRunner()
DEMO = demo_root()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, code: int, *needles: str) -> str:
    """The single ``error:`` line of a failed command (progress lines may precede it)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    text = errors[0]
    for needle in needles:
        assert needle in text, text
    return text


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A bare state dict of test_resnet with a one-output head (random weights)."""
    path = tmp_path_factory.mktemp("ck") / "tiny.pth"
    torch.save(load_model("test_resnet", num_classes=1, random_init=True).module.state_dict(), path)
    return path


def demo_images(n: int):
    return sorted((DEMO / "images").glob("*.jpg"))[:n]


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a whole zip file")
    text = one_error_line(
        invoke("predict", *demo_images(1), "--checkpoint", bad), 5, "cannot read checkpoint", str(bad)
    )
    assert "save it with torch.save" in text


def test_checkpoint_of_another_model(tiny_checkpoint):
    text = one_error_line(
        invoke("predict", *demo_images(1), "--checkpoint", tiny_checkpoint, "--model", "resnet18"),
        5,
        "does not fit timm:resnet18",
        "missing keys",
    )
    assert "load it with the model it was saved from" in text


def test_memtool_checkpoint_named_for_another_model(tiny_checkpoint, tmp_path):
    named = tmp_path / "named.pt"
    torch.save(
        {"model": "timm:test_resnet", "state_dict": torch.load(tiny_checkpoint), "num_classes": 1}, named
    )
    one_error_line(
        invoke("predict", *demo_images(1), "-c", named, "--model", "tf_efficientnet_lite0"),
        5,
        "holds timm:test_resnet, not timm:tf_efficientnet_lite0",
    )


def test_bare_state_dict_needs_its_model(tiny_checkpoint):
    one_error_line(
        invoke("predict", *demo_images(1), "-c", tiny_checkpoint), 5, "does not name its model", "--model"
    )


def test_classifier_checkpoint_is_not_a_regression_model(tmp_path):
    path = tmp_path / "cls.pt"
    module = load_model("test_resnet", random_init=True).module
    torch.save({"model": "timm:test_resnet", "state_dict": module.state_dict()}, path)
    one_error_line(invoke("predict", *demo_images(1), "-c", path), 4, "1000 outputs", "regression")


def test_image_that_does_not_open(tiny_checkpoint, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for src in demo_images(3):
        shutil.copy(src, folder / src.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    args = ["predict", folder, "-c", tiny_checkpoint, "--model", "test_resnet", "--device", "cpu"]
    one_error_line(invoke(*args), 3, "cannot read image", "broken.jpg", "--skip-bad")
    out = tmp_path / "s.csv"
    res = invoke(*args, "--skip-bad", "--out", out)
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output and "broken.jpg" in res.output
    assert len(out.read_text().splitlines()) == 1 + 3


def test_image_that_does_not_open_during_training(tmp_path):
    rows = ["path,score"]
    for i, src in enumerate(demo_images(23)):
        rows.append(f"{src},{0.4 + 0.01 * i}")
    (tmp_path / "broken.jpg").write_bytes(b"GIF89a truncated")
    rows.append(f"{tmp_path / 'broken.jpg'},0.5")
    (tmp_path / "scores.csv").write_text("\n".join(rows) + "\n")
    res = invoke(
        "finetune",
        "--model",
        "test_resnet",
        "--random-init",
        "--data",
        f"csv:{tmp_path / 'scores.csv'}",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--img-size",
        "32",
        "--val-fraction",
        "0.3",
        "--no-penultimate",
        "--db",
        tmp_path / "t.duckdb",
        "--out",
        tmp_path / "out",
        "--device",
        "cpu",
    )
    one_error_line(res, 3, "cannot read image", "broken.jpg")


def test_too_few_images_for_the_split(tmp_path):
    one_error_line(
        invoke(
            "finetune",
            "--model",
            "test_resnet",
            "--random-init",
            "--limit",
            "8",
            "--folds",
            "4",
            "--db",
            tmp_path / "t.duckdb",
            "--out",
            tmp_path / "out",
        ),
        3,
        "fold1 has 6 training images",
        "too few",
        "--limit",
    )
    assert not (tmp_path / "out").exists()  # stopped before any model was built


def test_split_that_does_not_exist(tmp_path):
    one_error_line(
        invoke(
            "finetune",
            "-m",
            "test_resnet",
            "--limit",
            "40",
            "--folds",
            "4",
            "--split",
            "6",
            "--db",
            tmp_path / "t.duckdb",
        ),
        2,
        "split 6",
        "4 folds",
    )


def test_unknown_model_fails_the_study_with_one_line(tmp_path):
    text = one_error_line(
        invoke(
            "finetune",
            "-m",
            "nosuchnet_xyz",
            "--limit",
            "40",
            "--folds",
            "4",
            "--db",
            tmp_path / "t.duckdb",
            "--out",
            tmp_path / "out",
        ),
        1,
        "nosuchnet_xyz",
        "run the same command again",
    )
    assert "unknown model" in text


def test_predict_needs_exactly_one_source(tiny_checkpoint):
    one_error_line(invoke("predict", *demo_images(1)), 2, "exactly one of --checkpoint")
    one_error_line(
        invoke("predict", *demo_images(1), "-c", tiny_checkpoint, "--baseline", "resmem"), 2, "exactly one of"
    )
    one_error_line(invoke("predict", *demo_images(1), "--baseline", "memnet"), 2, "unknown baseline")


def test_evaluate_a_baseline_needs_data():
    one_error_line(invoke("evaluate", "--baseline", "resmem"), 2, "needs --data")


def test_missing_image_path(tiny_checkpoint, tmp_path):
    one_error_line(invoke("predict", tmp_path / "nope.jpg", "-c", tiny_checkpoint), 3, "does not exist")


def test_bad_recipe_values(tmp_path):
    one_error_line(
        invoke("finetune", "-m", "test_resnet", "--epochs", "0", "--db", tmp_path / "t.duckdb"),
        2,
        "--epochs must be at least 1",
    )
    one_error_line(
        invoke("finetune", "-m", "test_resnet", "--val-fraction", "1.5", "--db", tmp_path / "t.duckdb"),
        2,
        "--val-fraction",
    )
    one_error_line(invoke("finetune", "--db", tmp_path / "t.duckdb"), 2, "no model to fine-tune")
