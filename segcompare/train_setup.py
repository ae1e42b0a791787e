"""Setting up a training run: the output folder, Accelerate, data, model, loss, optimizer -> one `Run`.

`build_run` makes everything the epoch loop reads, from a resolved `TrainConfig` and, when resuming, the
`Progress` and optimizer state of `last/`. Impossible settings (a device that is missing, a size that does
not fit in memory, a resume onto other classes) fail here in one line, before the first step.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .files import atomic_write_bytes
from .formats import HISTORY_FILE
from .train_config import DEFAULT_SIZE, TrainConfig
from .train_state import LAST, OLD, Progress, find_last


@dataclass
class Run:
    """What a training run builds once; the loop reads it and never adds to it."""

    cfg: TrainConfig
    acc: Any  # accelerate.Accelerator
    out: Path
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: Any  # torch.optim.lr_scheduler.LRScheduler (segcompare.optim)
    loss_fn: torch.nn.Module
    train_ds: Any  # SegDataset: its info() goes into every checkpoint
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader | None
    size: tuple[int, int]
    epochs: int  # epochs to run, max_steps considered
    total_steps: int

    @property
    def main(self) -> bool:
        return self.acc.is_main_process

    @property
    def num_classes(self) -> int:
        return len(self.train_ds.classes)

    @property
    def ignore_index(self) -> int:
        return getattr(self.train_ds, "ignore_index", 255)


def build_run(cfg: TrainConfig, acc, out: Path, last: Path | None, progress: Progress,
              saved_opt: dict | None) -> Run:
    """Data, model, loss, loaders, optimizer and schedule; the optimizer and schedule continue from
    `saved_opt` / `progress.scheduler` when resuming."""
    from .data.loader import EpochSampler, make_loader
    from .memory import check_fits
    from .optim import build_optimizer, build_scheduler

    train_ds, val_ds, size = load_datasets(cfg, acc.is_main_process)
    model = build_model_for(cfg, len(train_ds.classes), last)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss_for(cfg, train_ds, acc.is_main_process)
    # an impossible size/batch fails now, not when the OS kills the process
    check_fits(model, cfg.model, size, cfg.batch_size, cfg.optimizer, acc.device, cfg.amsgrad, cfg.mixed_precision)

    world, rank, gpu = acc.num_processes, acc.process_index, acc.device.type == "cuda"
    train_sampler = EpochSampler(len(train_ds), rank, world, cfg.seed, shuffle=True)
    drop_last = len(train_sampler) > cfg.batch_size  # a lone tiny last batch adds noise (and breaks BatchNorm)
    train_loader = make_loader(train_ds, cfg.batch_size, workers=cfg.workers, drop_last=drop_last,
                               sampler=train_sampler, pin_memory=gpu)
    val_loader = None
    if val_ds is not None:
        val_loader = make_loader(val_ds, cfg.batch_size, workers=cfg.workers, pin_memory=gpu,
                                 sampler=EpochSampler(len(val_ds), rank, world, cfg.seed, shuffle=False))
    steps_per_epoch = max(1, math.ceil(len(train_loader) / cfg.grad_accum))
    total_steps, epochs = steps_per_epoch * cfg.epochs, cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
        epochs = min(epochs, math.ceil(cfg.max_steps / steps_per_epoch))
    opt = build_optimizer(cfg.optimizer, model, cfg.lr, cfg.weight_decay, cfg.amsgrad)
    sched = build_scheduler(cfg.scheduler, opt, total_steps, steps_per_epoch, cfg.warmup, cfg.gamma)
    if saved_opt is not None:
        opt.load_state_dict(saved_opt)
        sched.load_state_dict(progress.scheduler)
    model, opt = acc.prepare(model, opt)
    return Run(cfg=cfg, acc=acc, out=out, model=model, opt=opt, sched=sched, loss_fn=loss_fn, train_ds=train_ds,
               train_loader=train_loader, val_loader=val_loader, size=size, epochs=epochs, total_steps=total_steps)


def make_accelerator(cfg: TrainConfig, out: Path):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    # Accelerate keeps its settings in process-wide singletons; each fit() (compare runs several) starts anew.
    AcceleratorState._reset_state()
    GradientState._reset_state()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cuda = torch.cuda.is_available()
    dev = cfg.device
    if dev.startswith("cuda") and not cuda:
        raise UserError(f"--device {dev} requested but CUDA is not available; use --device cpu")
    if dev.startswith("cuda:") and not distributed:
        torch.cuda.set_device(int(dev.split(":")[1]))
    use_cpu = dev == "cpu" or (dev == "auto" and not cuda)
    if cfg.mixed_precision == "fp16" and use_cpu:
        raise UserError("--mixed-precision fp16 needs a CUDA GPU; use bf16 or no on a CPU")
    trackers = check_trackers(cfg.log)
    return Accelerator(cpu=use_cpu, mixed_precision=cfg.mixed_precision, log_with=trackers or None,
                       project_dir=str(out / "logs") if trackers else None)


def check_trackers(names: list[str]) -> list[str]:
    import importlib.util

    needs = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}
    for name in names:
        if not any(importlib.util.find_spec(m) for m in needs[name]):
            raise UserError(f"--log {name} needs the {needs[name][0]} package: pip install {needs[name][0]}")
    return list(names)


def prepare_out(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """Create (or check) the output folder; -> (out, last state folder when resuming)."""
    out = Path(cfg.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    last = find_last(out) if out.is_dir() else None
    if cfg.resume:
        if last is None:
            raise UserError(f"nothing to resume in {out}: it has no last/ training state; drop --resume to start")
        return out, last
    if last is not None and not cfg.overwrite:
        raise UserError(f"{out} already holds a training run; continue it with --resume, or choose another --out "
                        "(or pass --overwrite)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / ".write-test", b"")
        (out / ".write-test").unlink()
    except OSError as e:
        raise UserError(f"cannot write to --out {out}: {e.strerror or e}; choose a writable folder") from None
    for name in (LAST, OLD, HISTORY_FILE):
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    return out, None


def load_datasets(cfg: TrainConfig, is_main: bool):
    """-> (train split, validation split or None, training size)."""
    from .data import get_dataset

    opts = cfg.dataset_options
    train = get_dataset(cfg.dataset, "train", size=cfg.size, augment=cfg.augment, **opts)
    size = cfg.size or getattr(train, "default_size", None) or getattr(train, "size", None)
    if size is None:
        size = DEFAULT_SIZE
        if is_main:
            print(f"note: training at {size[0]}x{size[1]} (set --size H W to change)", file=sys.stderr)
    if tuple(size) != tuple(train.size or ()):
        train = get_dataset(cfg.dataset, "train", size=size, augment=cfg.augment, **opts)
    if len(train) == 0:
        raise UserError(f"the train split of {cfg.dataset} has no images")
    try:
        val = get_dataset(cfg.dataset, cfg.val_split, size=size, augment=False, **opts)
        if len(val) == 0:
            val = None
    except UserError as e:
        if is_main:
            print(f"warning: no validation ({e}); keeping the last epoch, early stopping off", file=sys.stderr)
        val = None
    return train, val, tuple(size)


def build_loss_for(cfg: TrainConfig, train_ds, is_main: bool):
    from .losses import build_loss

    weights = None
    if cfg.class_weights != "none":
        from .data.stats import class_stats, class_weights

        if is_main:
            print(f"computing class weights ({cfg.class_weights}) from the train split ...", file=sys.stderr)
        weights = class_weights(class_stats(train_ds, max_images=500), cfg.class_weights)
    return build_loss(cfg.loss, ignore_index=getattr(train_ds, "ignore_index", 255), class_weights=weights)


def build_model_for(cfg: TrainConfig, num_classes: int, last: Path | None):
    """A new model (initial weights per strategy), or, when resuming, the model of `last/` built and loaded
    by the checkpoint loader's path (`checkpoint.model_from_weights`)."""
    from .checkpoint import WEIGHTS, model_from_weights, read_config
    from .models import build_model

    if last is None:
        return build_model(cfg.model, num_classes, pretrained=cfg.pretrained, frozen=cfg.strategy == "frozen")
    saved = read_config(last)
    if saved.get("name") != cfg.model:
        raise UserError(f"cannot resume: {last} trains {saved.get('name')!r}, not {cfg.model!r}")
    if saved["num_classes"] != num_classes:
        raise UserError(f"cannot resume: {last} has {saved['num_classes']} classes but {cfg.dataset} has "
                        f"{num_classes}; use the dataset it was trained on")
    model = model_from_weights(saved, last / WEIGHTS)  # weights come from last/, no download needed
    return model.freeze_encoder() if cfg.strategy == "frozen" else model
