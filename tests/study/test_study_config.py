"""The study file: every bad value reported at once, one line naming its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.study.config import StudyFileError, load_study

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_demo_file_reads_and_maps_onto_sweep_and_recipe():
    study = load_study(REPO / "examples" / "study_demo.toml")
    assert study.models == [
        "timm:tf_efficientnet_lite0",
        "timm:tf_efficientnet_lite1",
        "timm:tf_efficientnet_lite2",
        "resmem",
    ]
    config = study.sweep_config(study.models)
    assert (config.data, config.brain, config.batch_size, config.seed, config.n_boot) == (
        "demo",
        ["demo-it"],
        16,
        0,
        200,
    )
    recipe = study.recipe_obj()
    assert (recipe.epochs, recipe.img_size, recipe.seed) == (2, 128, 0)


def test_every_problem_is_listed_with_its_key(tmp_path):
    path = write(
        tmp_path,
        """
name = "bad"
models = ["resnet18", "resnet5O", "torchvision:alexnet", "resnet18"]
baselines = ["resmam"]
device = "tpu"
colour = "red"
[data]
spec = "demo"
folds = 1
[brain]
targets = ["IT", "nonsense"]
[sweep]
reducer = "magic:3"
batch_size = "big"
models = ["x"]
layrs = "all"
[finetune]
epochs = 0
lr = -1.0
seed = 3
warmup = 1
""",
    )
    with pytest.raises(StudyFileError) as info:
        load_study(path)
    lines = info.value.problems
    keys = [line.split(":", 1)[0] for line in lines]
    assert "models[1]" in keys and any("unknown model 'resnet5O'" in l for l in lines)
    assert any(l.startswith("models[3]: 'resnet18' is the same model as models[0]") for l in lines)
    for key in (
        "baselines[0]",
        "device",
        "colour",
        "data.folds",
        "brain.targets[1]",
        "sweep.reducer",
        "sweep.batch_size",
        "sweep.models",
        "sweep.layrs",
        "finetune.epochs",
        "finetune.lr",
        "finetune.seed",
        "finetune.warmup",
    ):
        assert key in keys, (key, lines)
    assert any("did you mean 'layers'" in l for l in lines)


def test_sweep_and_recipe_keys_follow_the_dataclasses(tmp_path, monkeypatch):
    """A field another branch adds to SweepConfig is accepted without a change here."""
    import memtool.sweep as sweep

    path = write(tmp_path, 'models = ["resnet18"]\n[brain]\nfeatures = "brainscore"\n')
    fields = {f.name for f in dataclasses.fields(sweep.SweepConfig)}
    if "brain_features" not in fields:
        with pytest.raises(StudyFileError) as info:
            load_study(path)
        assert info.value.problems[0].startswith(
            "brain.features: this memtool's sweep has no brain_features option"
        )

    @dataclasses.dataclass
    class Extended(sweep.SweepConfig):
        brain_features: str | None = None

    monkeypatch.setattr(sweep, "SweepConfig", Extended)
    study = load_study(path)
    assert study.sweep_config(study.models).brain_features == "brainscore"


def test_cli_prints_each_problem_and_exits_2(tmp_path):
    path = write(tmp_path, 'models = ["resnet5O"]\n[finetune]\nepochs = 0\n')
    res = runner.invoke(app, ["study", "run", str(path)])
    assert res.exit_code == 2
    out = res.output
    assert "models[0]: unknown model 'resnet5O'" in out
    assert "finetune.epochs:" in out and "2 problems" in out
