"""`memtool study plan`: what a study will run and what it will cost, from measurements here.

This module adds the stages up; :mod:`memtool.study.arch` describes the models and
:mod:`memtool.study.calibrate` measures (or extrapolates) their speed.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from memtool.errors import MemtoolError, UsageError
from memtool.store import Store
from memtool.study.arch import Arch, describe_arch
from memtool.study.calibrate import Speed, device_label, model_speeds, readout_seconds
from memtool.study.config import Study
from memtool.study.records import STAGE_TITLES

LAMEM_SIZES = {"images": 58741, "train": 45000, "val": 3741, "test": 10000}
# Stimuli of the public Brain-Score benchmarks (brainscore-vision's data packages).
BRAIN_STIMULI = {"V1": 450, "V2": 450, "V4": 3200, "IT": 3200, "behavior": 2400}
LOCAL_STIMULI = {"demo-it": 92, "demo-hit": 92}
DEFAULT_BRAIN_S = 6.0
LOCAL_BRAIN_S = 0.05


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


def _data_sizes(study: Study, notes: list[str]) -> dict:
    from memtool.finetune.data import load_split_dataset, split_parts

    try:
        from memtool.data.memorability import load_memorability

        ds = load_memorability(
            study.data,
            folds=study.folds,
            seed=study.seed,
            splits=study.splits if study.lamem else None,
            limit=study.limit,
        )
        n_images = len(ds.items)
        fds = load_split_dataset(
            study.data, study.splits[0], folds=study.folds, seed=study.seed, limit=study.limit
        )
        parts = split_parts(
            fds, study.splits[0], val_fraction=study.recipe_obj().val_fraction, seed=study.seed
        )
        return {
            "images": n_images,
            "train": len(parts.train),
            "val": len(parts.val),
            "test": len(parts.test),
            "n_splits": len(ds.splits),
        }
    except MemtoolError as exc:
        if not study.lamem:
            raise UsageError(f"data.spec: {exc.one_line()}") from None
        notes.append(
            f"{study.data} is not on this machine ({exc.message}); LaMem's published "
            f"sizes are used: {LAMEM_SIZES['images']:,} images, split train "
            f"{LAMEM_SIZES['train']:,} / val {LAMEM_SIZES['val']:,} / test "
            f"{LAMEM_SIZES['test']:,}"
        )
        sizes = dict(LAMEM_SIZES)
        sizes["n_splits"] = len(study.splits)
        return sizes


def make_plan(
    study: Study,
    *,
    db: Path | None = None,
    recalibrate: bool = False,
    log: Callable[[str], None] = lambda text: None,
) -> PlanResult:
    import torch

    from memtool.runtime import resolve_device

    notes: list[str] = []
    want_cuda = study.device.startswith("cuda")
    has_cuda = torch.cuda.is_available()
    gpu_extrapolated = want_cuda and not has_cuda
    device = resolve_device("cpu" if gpu_extrapolated else study.device)
    here = device_label(device)
    unit = "GPU" if (want_cuda or device.type == "cuda") else "CPU"
    label = "one GPU (not on this machine: extrapolated)" if gpu_extrapolated else here
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
            raise UsageError(
                f"cannot build {name} without weights to count its FLOPs: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            ) from None

    speeds = model_speeds(
        study,
        archs,
        names,
        sweep=sweep,
        recipe=recipe,
        device=device,
        here=here,
        gpu_extrapolated=gpu_extrapolated,
        store=store,
        recalibrate=recalibrate,
        notes=notes,
        log=log,
    )

    # scoring costs ---------------------------------------------------------------------
    n_images, n_splits = sizes["images"], sizes["n_splits"]
    base_readout = readout_seconds(n_images, n_splits)
    brain_s = float(study.plan.get("brain_seconds_per_layer") or DEFAULT_BRAIN_S)
    targets = [
        (
            t,
            LOCAL_STIMULI.get(t, BRAIN_STIMULI.get(t, 1000)),
            LOCAL_BRAIN_S if t in LOCAL_STIMULI else brain_s,
        )
        for t in study.brain
    ]
    if any(t not in LOCAL_STIMULI for t in study.brain):
        notes.append(
            f"Brain-Score scoring assumed at {brain_s:g} s per layer and benchmark "
            "(plan.brain_seconds_per_layer; brainscore-vision's PLS-25 on 1,000 "
            "features, measured on a 2-core CPU); stimulus counts of the public "
            "benchmarks are approximate"
        )

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
    notes.insert(
        0,
        f"sweep: {t_ex / 3600:.1f} h extraction, {t_mem / 3600:.1f} h memorability "
        f"readout ({base_readout:.2f} s for a 256-wide layer over {n_images:,} images, "
        f"measured here), {t_brain / 3600:.1f} h brain scoring",
    )
    stages.append(
        StageCost(
            "sweep",
            STAGE_TITLES["sweep"],
            f"{len(models)} models, {n_layers:,} layers x {n_images:,} images"
            + (f" x {len(targets)} brain targets" if targets else ""),
            t_ex + t_mem + t_brain,
            peak,
            None,
            _basis(speeds, models),
        )
    )

    runs = len(models) * len(study.splits)
    t = peak = disk = 0
    for name in models:
        a, s = archs[name], speeds[name]
        per_split = (
            recipe.epochs * (sizes["train"] * s.train_s + sizes["val"] * s.fwd_ft_s)
            + sizes["test"] * s.fwd_ft_s
        )
        t += per_split * len(study.splits)
        peak = max(peak, s.peak_train or 0)
        disk += 16 * a.n_params * len(study.splits)
    stages.append(
        StageCost(
            "finetune",
            STAGE_TITLES["finetune"],
            f"{runs} runs x <= {recipe.epochs} epochs x {sizes['train']:,} images "
            f"at {recipe.img_size or 'own'} px",
            t,
            peak,
            disk,
            _basis(speeds, models) + "; upper bound (early stopping)",
        )
    )

    t = peak = 0
    for name in models:
        a, s = archs[name], speeds[name]
        one = (
            n_images * s.fwd_ft_s
            + readout(a.widths[-1:])
            + sum(n_stim * s.fwd_ft_s + per for _, n_stim, per in targets)
        )
        pre = (
            n_images * s.fwd_s
            + readout(a.widths[-1:])
            + sum(n_stim * s.fwd_s + per for _, n_stim, per in targets)
        )
        # the pretrained penultimate layer is skipped when stage 1 scored it already
        t += (one + (0.0 if a.penultimate_swept else pre)) * len(study.splits)
        peak = max(peak, s.peak_fwd or 0)
    stages.append(
        StageCost(
            "penultimate",
            STAGE_TITLES["penultimate"],
            f"{2 * runs} sweeps of one layer",
            t,
            peak,
            None,
            _basis(speeds, models),
        )
    )

    t = peak = 0
    for b in study.baselines:
        s = speeds[b]
        t += sizes["test"] * s.fwd_s * len(study.splits)
        peak = max(peak, s.peak_fwd or 0)
    stages.append(
        StageCost(
            "baselines",
            STAGE_TITLES["baselines"],
            f"{len(study.baselines)} baseline(s) x {sizes['test']:,} test images",
            t,
            peak or None,
            None,
            _basis(speeds, study.baselines) if study.baselines else "-",
        )
    )
    stages.append(
        StageCost(
            "report", STAGE_TITLES["report"], "views, figures, index.html", 30.0, None, None, "assumed 30 s"
        )
    )
    if gpu_extrapolated:
        notes.append(
            "scoring (memorability readout, brain metrics) is costed at this CPU's "
            "measured speed, as it would run on the GPU node's CPUs; the GPU-hours "
            "column is wall time of one GPU with its node"
        )
    try:
        load = os.getloadavg()[0]
        notes.append(
            f"load average {load:.2f} on {os.cpu_count()} cores while planning: numbers "
            "measured here scale with the machine's load"
        )
    except OSError:
        pass
    if any(speeds[n].basis != "measured" and speeds[n].basis != "cached" for n in models):
        worst = max(models, key=lambda n: speeds[n].peak_train or 0)
        notes.append(
            f"peak memory of models not calibrated here is an upper estimate (weights, "
            f"gradients, AdamW moments and every leaf module's output of a training "
            f"batch); the largest is {worst}"
        )
    return PlanResult(stages, notes, unit, label, archs, speeds)


def _basis(speeds: dict[str, Speed], names: list[str]) -> str:
    kinds = sorted({speeds[n].basis for n in names})
    return ", ".join(f"{sum(speeds[n].basis == k for n in names)} {k}" for k in kinds)
