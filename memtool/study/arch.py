"""What a study's models are, without their weights: FLOPs, parameters, layer widths.

Every distinct model is built on PyTorch's ``meta`` device (no weights, no memory; a few
constructors need the CPU) and traced once: forward FLOPs per image
(``torch.utils.flop_counter``) at the sweep's and at the fine-tuning input size, parameter
count, the layers the sweep selects and their feature widths, and the bytes of every
module output a training step keeps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Arch:
    name: str
    input_size: int
    gflops: float  # forward, per image, at input_size
    gflops_ft: float  # forward, per image, at the fine-tuning size
    ft_size: int
    n_params: int
    n_layers: int  # layers the sweep's selection scores
    widths: list[int]  # pooled feature width of each selected layer
    act_bytes_ft: int  # activations a training step keeps per image (all module outputs)
    weights_here: str | None
    penultimate_swept: bool = False  # the sweep's selection holds the penultimate layer


def _build_meta(name: str, device: str = "meta"):
    """(module on the meta device, its input size) without weights or memory.

    ``device="cpu"`` builds it for real (random init) for the few architectures whose
    constructors cannot run on meta tensors.
    """
    import torch

    source, _, arch = name.partition(":")
    with torch.device(device):
        if name == "resmem":
            import torchvision

            return torchvision.models.resnet152(weights=None), 227
        if source == "timm":
            import timm
            import timm.data

            module = timm.create_model(arch, pretrained=False)
            size = timm.data.resolve_data_config({}, model=module)["input_size"][-1]
            return module, int(size)
        import torchvision.models as tvm

        kwargs = {"aux_logits": False, "init_weights": False} if arch in ("inception_v3", "googlenet") else {}
        module = tvm.get_model(arch, weights=None, **kwargs)
        try:
            crop = tvm.get_model_weights(arch).DEFAULT.transforms().crop_size
            size = int(crop[0] if isinstance(crop, (list, tuple)) else crop)
        except Exception:
            size = 224
        return module, size


def _count(module, size: int) -> tuple[float, dict[str, tuple], int]:
    """GFLOPs per image, output shape of every module, bytes of all module outputs per image."""
    import torch

    device = next(module.parameters()).device
    from torch.utils.flop_counter import FlopCounterMode

    shapes: dict[str, tuple] = {}
    hooks = []
    total = [0]

    def hook(name, leaf):
        def fn(mod, args, out):
            if isinstance(out, torch.Tensor):
                shapes[name] = tuple(out.shape)
                total[0] += out.numel() * 4 if leaf else 0

        return fn

    for name, mod in module.named_modules():
        if name:
            hooks.append(mod.register_forward_hook(hook(name, not any(True for _ in mod.children()))))
    x = torch.zeros(1, 3, size, size, device=device)
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            module.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return counter.get_total_flops() / 1e9, shapes, total[0]


def describe_arch(name: str, layers: str, ft_size: int | None, reducer: str) -> Arch:
    from memtool.models.layers import enumerate_layers

    try:
        module, size = _build_meta(name)
        gflops, shapes, _ = _count(module, size)
    except (NotImplementedError, RuntimeError):  # e.g. an init that copies into its weights
        module, size = _build_meta(name, "cpu")
        gflops, shapes, _ = _count(module, size)
    ft = ft_size or size
    gflops_ft, _, act = _count(module, ft) if ft != size else (gflops, shapes, _count(module, ft)[2])
    selected = [l.name for l in enumerate_layers(module, layers)]
    widths = [_width(shapes.get(n), reducer) for n in selected if n in shapes]
    n_params = sum(p.numel() for p in module.parameters())
    try:
        penultimate = {l.name for l in enumerate_layers(module, "penultimate")}
    except Exception:
        penultimate = set()
    return Arch(
        name,
        size,
        gflops,
        gflops_ft,
        ft,
        n_params,
        len(widths),
        widths,
        act,
        weights_here(name),
        bool(penultimate) and penultimate <= set(selected),
    )


def _width(shape: tuple | None, reducer: str) -> int:
    if not shape:
        return 0
    kind, _, arg = reducer.partition(":")
    if kind in ("rp", "pca") and arg:
        return int(arg)
    grid = int(arg) if kind == "pool" and arg else 1
    return int(shape[1]) * (grid * grid if len(shape) == 4 else 1) if len(shape) > 1 else 1


def weights_here(name: str) -> str | None:
    """Where this machine has the model's pretrained weights (None: it would download them)."""
    from memtool.models.registry import list_models

    if name == "resmem":
        pattern = "resmem:*"
    else:
        pattern = name.replace("[", "?")
    arch = name.partition(":")[2]
    for info in list_models(pattern):
        base = info.name.partition(":")[2].partition(".")[0] if info.name != "resmem" else "resmem"
        if (info.name == name or base == (arch or "resmem")) and info.offline_weights:
            return info.offline_weights
    return None
