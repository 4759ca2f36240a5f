"""Both example study files: every model exists in the installed timm/torchvision; the full
study's plan works offline."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memtool.cli.main import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
runner = CliRunner()


def _names(path: Path) -> list[str]:
    import tomllib

    raw = tomllib.loads(path.read_text())
    names = list(raw.get("models", []))
    if raw.get("models_from"):
        for line in (path.parent / raw["models_from"]).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


@pytest.mark.parametrize("file", ["study_demo.toml", "study_harada_sakai.toml"])
def test_every_model_exists_in_timm_or_torchvision(file):
    import timm
    import torchvision.models

    tv = set(torchvision.models.list_models(module=torchvision.models))
    names = _names(EXAMPLES / file)
    assert len(names) == len(set(names))
    for name in names:
        source, _, arch = name.rpartition(":")
        if name == "resmem":  # ResMem's backbone is torchvision's ResNet-152
            assert "resnet152" in tv
        elif source == "torchvision":
            assert arch in tv, name
            import torchvision.models as tvm

            assert tvm.get_model_weights(arch).DEFAULT is not None, f"{name}: no ImageNet weights"
        else:
            assert timm.is_model(arch), name
            assert timm.list_models(arch, pretrained=True), f"{name}: no pretrained weights in timm"
    if file == "study_harada_sakai.toml":
        assert len(names) == 64
        families = (
            "alexnet",
            "vgg",
            "resnet",
            "resnext",
            "wide_resnet",
            "densenet",
            "inception",
            "mobilenet",
            "efficientnet",
            "regnet",
            "convnext",
            "squeezenet",
        )
        for family in families:
            assert any(family in n for n in names), family


def _harada_file(tmp_path: Path) -> Path:
    """The full study's file; before brain_features exists in SweepConfig (another branch
    adds it), a copy without that one line."""
    from memtool.sweep import SweepConfig

    src = EXAMPLES / "study_harada_sakai.toml"
    if "brain_features" in {f.name for f in dataclasses.fields(SweepConfig)}:
        return src
    text = re.sub(r"(?m)^features = .*$", "", src.read_text())
    out = tmp_path / "study_harada_sakai.toml"
    out.write_text(text)
    (tmp_path / "models_harada_sakai.txt").write_text((EXAMPLES / "models_harada_sakai.txt").read_text())
    return out


@pytest.mark.slow  # builds 65 architectures without weights to count their FLOPs
def test_plan_of_the_full_study_works_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(
        app, ["study", "plan", str(_harada_file(tmp_path)), "--db", str(tmp_path / "plan.duckdb")]
    )
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "64 models on lamem:/data/lamem" in out
    for stage in ("sweep", "finetune", "penultimate", "baselines", "report", "total"):
        assert stage in out
    assert "GPU-hours" in out
    assert "LaMem's published sizes" in out  # the data set is not on this machine
    assert "no weights on this machine" in out and "torchvision:alexnet" in out
    assert "extrapolated from its FLOPs" in out


def test_a_plan_without_local_weights_is_calibrated_on_the_lite0_anchor(tmp_path, monkeypatch):
    """No model of the study has weights here: the plan measures the offline EfficientNet-Lite0
    (the anchor) on this machine and scales from it, instead of a FLOPs guess alone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MEMTOOL_CACHE", str(tmp_path / "cache"))
    study = tmp_path / "anchor.toml"
    study.write_text(
        'name = "anchor"\nmodels = ["resnet18"]\nstore = "anchor.duckdb"\nout = "anchor"\n'
        'device = "cpu"\n[data]\nspec = "demo"\nsplits = [1]\n'
        '[sweep]\nlayers = "^(layer4|conv_head)$"\nbatch_size = 4\n'
        "[finetune]\nepochs = 1\nimg_size = 64\nbatch_size = 4\n"
        "[plan]\ncalibration_batches = 1\n"
    )
    res = runner.invoke(app, ["study", "plan", str(study)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "calibration anchor: timm:tf_efficientnet_lite0" in out, out
