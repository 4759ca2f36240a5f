"""Fine-tuning one model on one split: epochs, early stopping, checkpoints, store rows.

:func:`finetune_model` trains with the recipe of :mod:`memtool.finetune.recipe` and
returns a :class:`FinetuneResult`; it never prints (progress goes to a
:class:`memtool.progress.Reporter`). After every epoch, in this order:

1. the epoch's row (train loss, validation loss and rho, learning rate, seconds) and the
   run's progress columns are committed to the store;
2. ``last.pt`` (weights, optimiser, scheduler, gradient scaler, RNG states, history,
   early-stopping counters) replaces the previous one;
3. when validation rho improved, ``best.pt`` (a memtool checkpoint) is written.

A run found with a ``last.pt`` resumes after the saved epoch: epoch rows beyond it are
dropped and recomputed, and a ``best.pt`` that step 3 did not finish is rebuilt from
``last.pt`` (whose weights are that best epoch's). A run whose store row says
``completed`` and whose ``best.pt`` exists is skipped. The identity of a run
(``finetune_id``) is a digest of the model, the data set's fingerprint, the split, the
recipe and whether the weights started random, so changing any of them starts a new run
in a new folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from memtool.data.base import MemorabilityDataset
from memtool.errors import DataError, MemtoolError, ModelError
from memtool.finetune import checkpoint as ckpt
from memtool.finetune.data import (ScoredImages, SplitParts, ViewImages, ViewSpec, check_batch,
                                   check_headers, default_workers, load_split_dataset, make_loader,
                                   split_parts)
from memtool.finetune.recipe import Recipe, eval_transform, input_config, train_transform
from memtool.finetune.records import FinetuneRecords, now
from memtool.progress import NullReporter, Reporter
from memtool.store import Store

DEFAULT_OUT = Path("memtool-finetune")


@dataclass
class FinetuneConfig:
    """What to fine-tune on which data; ``recipe`` holds the training hyper-parameters."""

    model: str
    data: str = "demo"
    split: int = 1  # LaMem: published split N; other sets: fold N of the seeded K-fold
    folds: int = 5
    limit: int | None = None
    recipe: Recipe = field(default_factory=Recipe)
    device: str = "auto"
    workers: int | None = None
    out_dir: Path = DEFAULT_OUT
    random_init: bool = False
    n_boot: int = 1000
    force: bool = False


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    val_rho: float
    lr: float
    seconds: float
    eval_seconds: float
    images_per_s: float
    is_best: bool


@dataclass
class FinetuneResult:
    """What a fine-tuning run produced. ``module`` is the best model (head in score units,
    eval mode) and ``test_predictions`` its scores for ``test_paths``; both are None for a
    run skipped because it had finished before."""

    finetune_id: str
    model: str
    dataset: str
    dataset_id: str
    split: str
    status: str  # "completed" | "skipped"
    checkpoint: Path
    run_dir: Path
    epochs: list[EpochStats]
    best_epoch: int | None
    best_val_rho: float | None
    stopped_early: bool
    test_rho: float | None
    test_ci: tuple[float | None, float | None]
    n_train: int
    n_val: int
    n_test: int
    val_source: str
    penultimate_layer: str | None
    finetuned_model_id: str | None
    resumed_from: int | None = None
    seconds: dict = field(default_factory=dict)
    test_paths: list[Path] = field(default_factory=list)
    test_predictions: np.ndarray | None = None
    module: torch.nn.Module | None = None
    data_config: dict | None = None


# ----------------------------------------------------------------------------- naming


def canonical_model_name(spec: str) -> str:
    """``resnet50`` -> ``timm:resnet50`` (the name load_model and the store use)."""
    from memtool.models.registry import parse_model_spec

    source, arch = parse_model_spec(spec)
    if source == "resmem":
        return "resmem"
    if source == "checkpoint":
        return f"checkpoint:{arch}"
    return f"{source}:{arch}"


RECIPE_VERSION = 2  # bump when the recipe's fixed choices (loss, augmentation, ...) change


def make_finetune_id(model: str, dataset_id: str, split: str, recipe: Recipe, random_init: bool) -> str:
    """Digest naming a run: the same model, data, split and recipe resume the same run."""
    blob = json.dumps({"model": model, "dataset": dataset_id, "split": split,
                       "recipe": asdict(recipe), "recipe_version": RECIPE_VERSION,
                       "random_init": random_init}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "model"


def run_dir_for(out_dir: Path, model: str, dataset: str, split: str, finetune_id: str) -> Path:
    return Path(out_dir) / _slug(model) / f"{_slug(dataset)}-{split}-{finetune_id[:8]}"


# ------------------------------------------------------------------------------- API


def finetune_model(config: FinetuneConfig, store: Store | str | Path, *, run_id: str | None = None,
                   reporter: Reporter | None = None,
                   dataset: MemorabilityDataset | None = None) -> FinetuneResult:
    """Fine-tune ``config.model`` on one split; resume or skip as the module docstring says.

    ``dataset`` may be passed in when several models share it (it must have been loaded
    with ``load_split_dataset`` and the same options). Raises MemtoolError for problems
    the user can fix; the store row records ``failed`` or ``interrupted``.
    """
    reporter = reporter or NullReporter()
    store = store if isinstance(store, Store) else Store(store)
    store.migrate()
    recipe = config.recipe
    if dataset is None:
        dataset = load_split_dataset(config.data, config.split, folds=config.folds,
                                     seed=recipe.seed, limit=config.limit)
    parts = split_parts(dataset, config.split, val_fraction=recipe.val_fraction, seed=recipe.seed)
    model_name = canonical_model_name(config.model)
    dataset_id = dataset.fingerprint()
    fid = make_finetune_id(model_name, dataset_id, parts.name, recipe, config.random_init)
    run_dir = run_dir_for(config.out_dir, model_name, dataset.name, parts.name, fid)
    records = FinetuneRecords(store)
    existing = records.get_run(fid)
    if config.force:
        shutil.rmtree(run_dir, ignore_errors=True)
        records.drop_epochs_after(fid, 0)
    elif existing and existing["status"] == "completed" and (run_dir / "best.pt").is_file():
        return _skipped(existing, run_dir, records, parts)
    _record_dataset(store, dataset, dataset_id)
    trainer = _Trainer(config, dataset, dataset_id, parts, model_name, fid, run_dir, records,
                       run_id, reporter)

    def mark(status: str, error: str) -> None:
        if records.get_run(fid) is None:  # failed before training started: a minimal row
            records.upsert_run({
                "finetune_id": fid, "run_id": run_id, "model": model_name,
                "random_init": config.random_init, "dataset_id": dataset_id,
                "dataset": dataset.name, "split": parts.name, "val_source": parts.val_source,
                "recipe": recipe.describe(), "status": status, "error": error,
                "epochs_planned": recipe.epochs, "started_at": now()})
        else:
            records.update_run(fid, status=status, error=error)

    try:
        return trainer.run()
    except KeyboardInterrupt:
        mark("interrupted", "interrupted by the user")
        raise
    except MemtoolError as exc:
        mark("failed", exc.one_line())
        raise
    except Exception as exc:
        mark("failed", f"{type(exc).__name__}: {exc}")
        raise


def _record_dataset(store: Store, dataset: MemorabilityDataset, dataset_id: str) -> None:
    scores = dataset.scores
    store.upsert_dataset({
        "dataset_id": dataset_id, "name": dataset.name, "kind": dataset.kind,
        "spec": dataset.spec, "root": str(dataset.root), "n_images": len(dataset.items),
        "n_splits": len(dataset.splits), "split_kind": dataset.split_kind,
        "ceiling": dataset.ceiling, "citation": dataset.citation, "options": dataset.options,
        "score_mean": float(scores.mean()), "score_std": float(scores.std()),
    })


def _skipped(row: dict, run_dir: Path, records: FinetuneRecords, parts: SplitParts) -> FinetuneResult:
    epochs = [EpochStats(r["epoch"], r["train_loss"], r["val_loss"], r["val_rho"], r["lr"],
                         r["seconds"], r["eval_seconds"], r["images_per_s"], bool(r["is_best"]))
              for r in records.epochs(row["finetune_id"])]
    return FinetuneResult(
        finetune_id=row["finetune_id"], model=row["model"], dataset=row["dataset"],
        dataset_id=row["dataset_id"], split=row["split"], status="skipped",
        checkpoint=run_dir / "best.pt", run_dir=run_dir, epochs=epochs,
        best_epoch=row["best_epoch"], best_val_rho=row["best_val_rho"],
        stopped_early=bool(row["stopped_early"]), test_rho=row["test_rho"],
        test_ci=(row["test_ci_low"], row["test_ci_high"]), n_train=len(parts.train),
        n_val=len(parts.val), n_test=len(parts.test), val_source=parts.val_source,
        penultimate_layer=row["penultimate_layer"], finetuned_model_id=row["finetuned_model_id"],
        seconds={"total": row["seconds"]},
    )


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


class _Trainer:
    """State of one run between epochs (kept out of the public API)."""

    def __init__(self, config, dataset, dataset_id, parts, model_name, fid, run_dir, records,
                 run_id, reporter):
        self.config, self.recipe = config, config.recipe
        self.dataset, self.dataset_id, self.parts = dataset, dataset_id, parts
        self.model_name, self.fid, self.run_dir = model_name, fid, run_dir
        self.best_path, self.last_path = run_dir / "best.pt", run_dir / "last.pt"
        self.records, self.run_id, self.reporter = records, run_id, reporter
        self.seconds = {"train": 0.0, "eval": 0.0, "bookkeeping": 0.0, "load": 0.0}

    # -- setup ---------------------------------------------------------------------------
    def _setup(self) -> None:
        from memtool.finetune.heads import (apply_freeze, find_head, load_regression_model,
                                            param_groups)
        from memtool.runtime import resolve_device

        t0 = time.perf_counter()
        recipe, parts = self.recipe, self.parts
        self.device = resolve_device(self.config.device)
        self.workers = default_workers(self.device, self.config.workers)
        loaded = load_regression_model(self.config.model, random_init=self.config.random_init)
        if loaded.name != self.model_name and not self.model_name.startswith("checkpoint:"):
            raise ModelError(f"{self.config.model} built {loaded.name}, expected {self.model_name}")
        self.model_name = loaded.name
        self.module = loaded.module
        self.head_name, _ = find_head(self.module, loaded.name)
        self.penultimate = _penultimate_name(self.module)
        self.data_config = input_config(loaded.data_config, recipe.img_size)
        size = self.data_config["input_size"]

        y = self.dataset.scores
        self.mean = float(y[parts.train].mean())
        self.std = float(y[parts.train].std())
        if not self.std > 0:
            raise DataError(f"all {len(parts.train)} training scores of {parts.name} are equal",
                            hint="memorability scores must vary to learn from them")
        self.y = y
        z = (y - self.mean) / self.std
        paths = self.dataset.paths
        evaluate = eval_transform(self.data_config)

        views = ViewSpec.from_data_config(self.data_config)

        def subset(idx, mode):
            """Cached views where the preprocessing allows, else the transforms on files."""
            chosen = [paths[i] for i in idx]
            if views is not None and mode in ("eval", "flip", "shift"):
                return ViewImages(chosen, z[idx], views, mode)
            transform = evaluate if mode == "eval" else train_transform(self.data_config, recipe)
            return ScoredImages(chosen, z[idx], transform, size)

        check_headers([paths[i] for i in (*parts.val, *parts.test)])  # evaluated after training
        self.train_set = subset(parts.train, recipe.augment)
        self.train_eval_set = subset(parts.train, "eval")  # the linear probe's features
        self.val_set = subset(parts.val, "eval")
        self.test_set = subset(parts.test, "eval")
        self.drop_last = len(parts.train) >= recipe.batch_size
        self.steps_per_epoch = max(1, len(parts.train) // recipe.batch_size if self.drop_last else 1)

        cuda = self.device.type == "cuda"
        self.module.to(self.device)
        if cuda:
            self.module.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        self.amp_dtype = None
        if cuda:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.n_frozen = apply_freeze(self.module, recipe, self.head_name)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(param_groups(self.module, recipe, self.head_name),
                                           betas=(0.9, 0.999), **({"fused": True} if cuda else {}))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: recipe.lr_factor(step, self.steps_per_epoch))
        self.ema = None  # made once the head is set (see _fresh / _resume)
        self._live = None  # the training weights while the averaged ones are evaluated
        self.seconds["load"] = time.perf_counter() - t0

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    # -- state -----------------------------------------------------------------------------
    def _fresh(self) -> None:
        self.epoch = 0
        self.history: list[EpochStats] = []
        self.best_epoch: int | None = None
        self.best_val = -math.inf
        self.bad_epochs = 0
        self.stopped = False
        self.previous_seconds = 0.0
        self.best_state: dict | None = None
        self.resumed_from: int | None = None
        _seed_everything(self.recipe.seed)  # augmentation and dropout draw from these
        self._new_ema()

    def _new_ema(self) -> None:
        from memtool.finetune.heads import WeightEMA

        self.ema = WeightEMA(self.module, self.recipe.ema_decay) if self.recipe.ema_decay > 0 else None

    def _resume(self) -> None:
        """Load ``last.pt`` (and ``best.pt``) when present; otherwise start afresh."""
        from memtool.finetune.heads import fold_scaling
        from memtool.models.weights import apply_state_dict

        self._fresh()
        if not self.last_path.is_file():
            return  # an old best.pt here is replaced after the first epoch
        state = ckpt.read_state(self.last_path, finetune_id=self.fid, model_name=self.model_name)
        apply_state_dict(self.module, state["model_state"], f"training state {self.last_path}", self.model_name)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        self._new_ema()
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch = int(state["epoch"])
        self.history = [EpochStats(**row) for row in state["history"]]
        self.best_epoch = state["best_epoch"]
        self.best_val = float(state["best_val"])
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped = bool(state["stopped"])
        self.previous_seconds = float(state["seconds"])
        self.mean, self.std = float(state["target_mean"]), float(state["target_std"])
        self.resumed_from = self.epoch

        best = ckpt.read_best(self.best_path) if self.best_path.is_file() else None
        if best is not None and best.get("finetune_id") != self.fid:
            best = None  # another run's file: ignore it
        if self.best_epoch == self.epoch and (best is None or best["epoch"] != self.epoch):
            # Killed between last.pt and best.pt: the current weights are the best ones.
            self.best_state = fold_scaling(self._eval_state(), self.head_name, self.mean, self.std)
            self._write_best()
        elif best is None or best["epoch"] != self.best_epoch:
            raise ModelError(
                f"{self.best_path} is missing or from another epoch than the best one "
                f"({self.best_epoch}) recorded in {self.last_path}",
                hint="delete the run's folder (or pass --force) to train it again",
            )
        else:
            self.best_state = dict(best["state_dict"])
        self.reporter.message(
            f"{self.model_name}: resuming {self.parts.name} after epoch {self.epoch}/{self.recipe.epochs}"
            + (" (already stopped early; evaluating)" if self.stopped else ""))

    def _write_best(self) -> None:
        ckpt.save_best(
            self.best_path, model_name=self.model_name, state_dict=self.best_state,
            data_config=self.data_config, recipe=self.recipe.describe(), epoch=self.best_epoch,
            val_rho=self.best_val, finetune_id=self.fid,
            dataset={"spec": self.dataset.spec, "name": self.dataset.name,
                     "dataset_id": self.dataset_id, "split": self.parts.name,
                     "split_number": self.config.split, "folds": self.config.folds,
                     "seed": self.recipe.seed, "limit": self.config.limit,
                     "val_fraction": self.recipe.val_fraction, "val_source": self.parts.val_source},
            target_scaling={"mean": self.mean, "std": self.std, "folded_into_head": True},
            head=self.head_name, penultimate=self.penultimate,
        )

    def _save_state(self) -> None:
        ckpt.save_state(self.last_path, {
            "finetune_id": self.fid, "model": self.model_name, "epoch": self.epoch,
            "model_state": (self._live if self._live is not None  # training, not averaged, weights
                            else {k: v.detach().cpu() for k, v in self.module.state_dict().items()}),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": ckpt.rng_state(), "history": [vars(e) for e in self.history],
            "best_epoch": self.best_epoch, "best_val": self.best_val,
            "bad_epochs": self.bad_epochs, "stopped": self.stopped,
            "seconds": self._total_seconds(), "target_mean": self.mean, "target_std": self.std,
        })

    def _cpu_state(self) -> dict:
        """A detached CPU copy of the weights (never views of the live parameters)."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.module.state_dict().items()}

    def _eval_state(self) -> dict:
        """A CPU copy of the weights that are evaluated: the moving average, when kept."""
        if self.ema is None:
            return self._cpu_state()
        return {k: v.detach().to("cpu", copy=True) for k, v in self.ema.state.items()}

    @contextlib.contextmanager
    def _evaluated_weights(self):
        """Run the block with the evaluated weights in the module (the moving average when
        kept), and put the live training weights back afterwards."""
        if self.ema is None:
            yield
            return
        self._live = self._cpu_state()
        self.module.load_state_dict(self.ema.state)
        try:
            yield
        finally:
            self.module.load_state_dict(self._live)
            self._live = None

    def _total_seconds(self) -> float:
        return round(self.previous_seconds + sum(self.seconds.values()), 3)

    # -- loops -----------------------------------------------------------------------------
    def _batches(self, loader):
        non_blocking = self.device.type == "cuda"
        for images, targets, index, errors in loader:
            check_batch(errors)
            images = images.to(self.device, non_blocking=non_blocking)
            if self.device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, targets.to(self.device, non_blocking=non_blocking), index

    def train_epoch(self, epoch: int) -> tuple[float, int]:
        """One pass over the training images; returns (mean loss, images seen)."""
        recipe = self.recipe
        generator = torch.Generator().manual_seed(recipe.seed * 1_000_003 + epoch)
        loader = make_loader(self.train_set, batch_size=recipe.batch_size, shuffle=True,
                             workers=self.workers, device=self.device, generator=generator,
                             drop_last=self.drop_last)
        self.module.train()
        if recipe.bn == "frozen":
            from memtool.finetune.heads import freeze_norm_statistics

            freeze_norm_statistics(self.module)
        task = self.reporter.task(f"epoch {epoch}/{recipe.epochs}: train", len(loader))
        total = torch.zeros((), device=self.device)
        seen = 0
        for images, targets, _ in self._batches(loader):
            with self._autocast():
                out = self.module(images)
            loss = torch.nn.functional.mse_loss(out.float().reshape(-1), targets)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler.is_enabled():
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, recipe.max_grad_norm)
            if self.scaler.is_enabled():
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update(self.module)
            total += loss.detach() * targets.shape[0]
            seen += targets.shape[0]
            task.advance()
        task.close()
        return float(total) / max(1, seen), seen

    @torch.inference_mode()
    def predict(self, dataset: ScoredImages, label: str) -> np.ndarray:
        """The module's outputs for every image of ``dataset``, in order (eval mode)."""
        loader = make_loader(dataset, batch_size=self.recipe.batch_size, shuffle=False,
                             workers=self.workers, device=self.device,
                             generator=torch.Generator().manual_seed(0))
        self.module.eval()
        task = self.reporter.task(label, len(loader))
        out = np.empty(len(dataset), dtype=np.float64)
        for images, _, index in self._batches(loader):
            with self._autocast():
                pred = self.module(images).float()
                if self.recipe.tta_flip:
                    pred = 0.5 * (pred + self.module(images.flip(-1)).float())
            out[index.numpy()] = pred.reshape(-1).cpu().numpy()
            task.advance()
        task.close()
        return out

    def run(self) -> FinetuneResult:
        self._setup()
        self._resume()
        recipe, parts = self.recipe, self.parts
        self.records.upsert_run({
            "finetune_id": self.fid, "run_id": self.run_id, "model": self.model_name,
            "random_init": self.config.random_init, "dataset_id": self.dataset_id,
            "dataset": self.dataset.name, "split": parts.name, "val_source": parts.val_source,
            "recipe": recipe.describe(), "status": "running", "error": None,
            "n_train": len(parts.train), "n_val": len(parts.val), "n_test": len(parts.test),
            "epochs_planned": recipe.epochs, "epochs_done": self.epoch,
            "penultimate_layer": self.penultimate, "checkpoint": str(self.best_path.resolve()),
            "out_dir": str(self.run_dir.resolve()), "device": str(self.device),
            "started_at": now(), "finished_at": None,
        })
        self.records.drop_epochs_after(self.fid, self.epoch)  # rows of epochs to be repeated
        z_val = (self.y[parts.val] - self.mean) / self.std
        if recipe.head_init == "ridge" and self.resumed_from is None:
            self._linear_probe(z_val)
        while not self.stopped and self.epoch < recipe.epochs:
            epoch = self.epoch + 1
            t0 = time.perf_counter()
            train_loss, seen = self.train_epoch(epoch)
            t_train = time.perf_counter() - t0
            if not math.isfinite(train_loss):
                raise ModelError(f"training of {self.model_name} diverged in epoch {epoch} (loss {train_loss})",
                                 hint=f"lower --lr (now {recipe.lr:g})")
            t0 = time.perf_counter()
            with self._evaluated_weights():
                val_pred = self.predict(self.val_set, f"epoch {epoch}/{recipe.epochs}: validate")
                t_eval = time.perf_counter() - t0
                self._end_epoch(epoch, train_loss, val_pred, z_val, self._backbone_lr(), t_train,
                                t_eval, seen)
        return self._finish()

    def _backbone_lr(self) -> float:
        """The largest backbone learning rate now (the top layers'; the head's if all are frozen)."""
        groups = self.optimizer.param_groups
        rates = [g["lr"] for g in groups if not str(g.get("name", "")).startswith("head")]
        return max(rates) if rates else groups[0]["lr"]

    def _end_epoch(self, epoch: int, train_loss: float, val_pred: np.ndarray, z_val: np.ndarray,
                   lr: float, t_train: float, t_eval: float, seen: int) -> None:
        """Early-stopping bookkeeping, the epoch's row, last.pt and (if improved) best.pt.
        Runs with the evaluated weights in the module."""
        from memtool.finetune.heads import fold_scaling
        from memtool.scoring.stats import spearman

        recipe, parts = self.recipe, self.parts
        val_loss = float(np.mean((val_pred - z_val) ** 2))
        val_rho = spearman(val_pred, z_val)
        self.seconds["train"] += t_train
        self.seconds["eval"] += t_eval
        t0 = time.perf_counter()
        score = val_rho if _finite(val_rho) else -2.0  # constant predictions rank last
        improved = score > self.best_val
        if improved:
            self.best_epoch, self.best_val, self.bad_epochs = epoch, score, 0
        elif epoch > 0:
            self.bad_epochs += 1
        self.epoch = epoch
        self.stopped = self.bad_epochs >= recipe.patience and epoch < recipe.epochs
        stats = EpochStats(epoch, train_loss, val_loss, val_rho, lr, round(t_train, 4),
                           round(t_eval, 4), seen / t_train if t_train > 0 else float("nan"),
                           improved)
        self.history.append(stats)
        self.records.write_epoch({"finetune_id": self.fid, **vars(stats)}, {
            "epochs_done": epoch, "best_epoch": self.best_epoch,
            "best_val_rho": self.best_val if self.best_val > -2 else None,
            "stopped_early": self.stopped, "seconds": self._total_seconds(),
        })
        if improved:
            self.best_state = fold_scaling(self._cpu_state(), self.head_name, self.mean, self.std)
        self._save_state()
        if improved:
            self._write_best()
        self.seconds["bookkeeping"] += time.perf_counter() - t0
        what = "linear probe (epoch 0)" if epoch == 0 else f"epoch {epoch}/{recipe.epochs}"
        self.reporter.message(
            f"{self.model_name} {parts.name} {what}: train loss "
            f"{train_loss:.4f}, val loss {val_loss:.4f}, val rho {val_rho:.4f}"
            + (" (best)" if improved else "")
            + (f"; no gain for {self.bad_epochs} epochs: stopping" if self.stopped else ""))

    @torch.inference_mode()
    def _features(self, dataset, label: str) -> np.ndarray:
        """The head's input for every image of ``dataset`` (eval mode, no flip)."""
        from memtool.finetune.heads import HeadInput, find_head

        _, head = find_head(self.module, self.model_name)
        loader = make_loader(dataset, batch_size=self.recipe.batch_size, shuffle=False,
                             workers=self.workers, device=self.device,
                             generator=torch.Generator().manual_seed(0))
        self.module.eval()
        task = self.reporter.task(label, len(loader))
        out = None
        with HeadInput(head) as captured:
            for images, _, index in self._batches(loader):
                with self._autocast():
                    self.module(images)
                feats = captured.batches.pop()
                if out is None:
                    out = np.empty((len(dataset), feats.shape[1]), dtype=np.float32)
                out[index.numpy()] = feats.numpy()
                task.advance()
        task.close()
        return out

    def _linear_probe(self, z_val: np.ndarray) -> None:
        """LP-FT's first step: the head becomes the sweep's ridge readout of the penultimate
        features of the training images; scored on the validation images as epoch 0."""
        from memtool.finetune.heads import find_head, ridge_head, set_head

        t0 = time.perf_counter()
        parts = self.parts
        z_train = (self.y[parts.train] - self.mean) / self.std
        train_x = self._features(self.train_eval_set, "linear probe: features")
        published = parts.val_source == "published"
        val_x = self._features(self.val_set, "linear probe: validation features") if published else None
        weight, bias, alpha = ridge_head(train_x, z_train, val_features=val_x,
                                         val_z=z_val if published else None)
        _, head = find_head(self.module, self.model_name)
        set_head(head, weight, bias)
        self.probe_alpha = alpha
        train_loss = float(np.mean((train_x @ weight + bias - z_train) ** 2))
        t_train = time.perf_counter() - t0
        self._new_ema()  # the average starts from the probed model
        t0 = time.perf_counter()
        with self._evaluated_weights():
            val_pred = self.predict(self.val_set, "linear probe: validate")
            self._end_epoch(0, train_loss, val_pred, z_val, 0.0, t_train,
                            time.perf_counter() - t0, len(parts.train))

    def _finish(self) -> FinetuneResult:
        from memtool.models.weights import weights_digest
        from memtool.scoring.stats import bootstrap_spearman_ci, spearman

        parts = self.parts
        t0 = time.perf_counter()
        self.module.load_state_dict(self.best_state)  # head now outputs scores
        self.module.eval()
        y_test = self.y[parts.test]
        test_pred = self.predict(self.test_set, "test")
        test_rho = spearman(test_pred, y_test)
        low, high = bootstrap_spearman_ci(test_pred, y_test, n_boot=self.config.n_boot, seed=self.recipe.seed)
        test_loss = float(np.mean(((test_pred - self.mean) / self.std - (y_test - self.mean) / self.std) ** 2))
        self.seconds["eval"] += time.perf_counter() - t0

        model_id = f"{self.model_name}@{weights_digest(_StateView(self.best_state))}"
        total = self._total_seconds()
        self.records.update_run(
            self.fid, status="completed", error=None, test_rho=test_rho, test_ci_low=low,
            test_ci_high=high, test_loss=test_loss, finetuned_model_id=model_id,
            epochs_done=self.epoch, best_epoch=self.best_epoch,
            best_val_rho=self.best_val if self.best_val > -2 else None,
            stopped_early=self.stopped, seconds=total, finished_at=now(),
        )
        self.records.write_evaluation({
            "predictor_id": model_id, "predictor": str(self.best_path.resolve()),
            "dataset_id": self.dataset_id, "dataset": self.dataset.name, "split": parts.name,
            "part": "test", "n_images": len(parts.test), "rho": test_rho, "ci_low": low,
            "ci_high": high, "n_boot": self.config.n_boot, "seconds": round(time.perf_counter() - t0, 3),
        })
        self.reporter.message(
            f"{self.model_name} {parts.name}: best epoch {self.best_epoch}, test rho {test_rho:.4f} "
            f"[{low:.3f}, {high:.3f}] on {len(parts.test)} images")
        return FinetuneResult(
            finetune_id=self.fid, model=self.model_name, dataset=self.dataset.name,
            dataset_id=self.dataset_id, split=parts.name, status="completed",
            checkpoint=self.best_path, run_dir=self.run_dir, epochs=list(self.history),
            best_epoch=self.best_epoch, best_val_rho=self.best_val if self.best_val > -2 else None,
            stopped_early=self.stopped, test_rho=test_rho, test_ci=(low, high),
            n_train=len(parts.train), n_val=len(parts.val), n_test=len(parts.test),
            val_source=parts.val_source, penultimate_layer=self.penultimate,
            finetuned_model_id=model_id, resumed_from=self.resumed_from,
            seconds={**{k: round(v, 3) for k, v in self.seconds.items()}, "total": total},
            test_paths=[self.dataset.paths[i] for i in parts.test], test_predictions=test_pred,
            module=self.module, data_config=self.data_config,
        )


def _seed_everything(seed: int) -> None:
    import random

    torch.manual_seed(seed)  # CPU and every CUDA device
    random.seed(seed)
    np.random.seed(seed % 2**32)


class _StateView:
    """Lets ``weights_digest`` (which calls ``.state_dict()``) read a plain state dict."""

    def __init__(self, state: dict):
        self._state = state

    def state_dict(self) -> dict:
        return self._state


def _penultimate_name(module) -> str | None:
    from memtool.models.layers import enumerate_layers

    try:
        return enumerate_layers(module, "penultimate")[0].name
    except ModelError:
        return None


