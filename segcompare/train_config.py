"""`TrainConfig`: every training option in one flat, typed dataclass, and its checks.

`resolve_config` fills the defaults that depend on other fields (learning rate and weight decay per
strategy and optimizer, pretrained weights per strategy) and rejects impossible combinations in one line
before anything is built, so a bad run fails in a second instead of after an epoch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .registry import unknown

STRATEGIES = ("scratch", "finetune", "frozen")
PRECISIONS = ("no", "fp16", "bf16")
TRACKERS = ("tensorboard", "wandb", "mlflow")
CLASS_WEIGHTS = ("none", "inverse_sqrt", "inverse", "median")
DEFAULT_SIZE = (512, 512)  # for datasets without a natural size (folder:, real photos)
MAX_SIDE = 4096  # a checkpoint's input_size is at most this (segcompare.formats.checkpoint_config)


@dataclass
class TrainConfig:
    """Training options; `None` means "pick a good default" (see `resolve_config`)."""

    model: str = ""
    dataset: str = ""
    out: str = ""
    epochs: int = 20
    max_steps: int | None = None  # stop after this many optimizer steps (the schedule is fitted to it)
    batch_size: int = 8
    size: tuple[int, int] | None = None  # H W; None = the dataset's default size, else 512x512
    lr: float | None = None  # None: 1e-3 scratch/frozen, 2e-4 finetune (x10 for sgd)
    weight_decay: float | None = None  # None: 0.01 adamw, 0 adam, 1e-4 sgd
    optimizer: str = "adamw"
    amsgrad: bool = False
    scheduler: str = "cosine"
    warmup: float | None = None  # fraction of the steps (< 1) or a number of steps; None: per scheduler
    gamma: float = 0.98  # exponential scheduler: lr multiplier per epoch
    loss: str = "ce+dice"  # the default by evidence: see the README's "Training defaults" table
    class_weights: str = "none"  # none | inverse_sqrt | inverse | median (from the train split's statistics)
    strategy: str = "scratch"  # scratch | finetune | frozen
    pretrained: str | None = None  # none | imagenet | coco | PATH; None: none for scratch, else imagenet
    augment: bool | str = True  # train-split augmentation recipe by name (see `segcompare.data.transforms`):
    # flip (the default) | light | scale-crop | none; true = the default recipe, false = none
    val_every: int = 1
    val_split: str = "val"
    patience: int = 0  # stop after this many validations without a better val mIoU; 0 = never
    seed: int = 0
    workers: int | None = None  # DataLoader worker processes (persistent); None: one per core, up to 4
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under `accelerate launch`, each process's own)
    resume: bool = False
    overwrite: bool = False  # start afresh in an --out that already holds a run
    channels_last: bool = False
    grad_accum: int = 1
    grad_clip: float | None = None  # max gradient norm; None = no clipping
    mixed_precision: str = "no"  # no | fp16 (CUDA) | bf16
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower on GPU)
    log: list[str] = field(default_factory=list)  # tensorboard | wandb | mlflow
    dataset_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"length": 64} for synthetic data
    log_every: int = 20  # progress-bar refresh (one loss sync) every N steps
    progress: bool = True
    allow_changed_recipe: bool = False  # --resume with another lr, loss, size, ... than the run started with

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size) if self.size else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise UserError(unknown("training option", bad[0], names))
        d = dict(d)
        if d.get("size") is not None:
            d["size"] = parse_size(d["size"])
        if isinstance(d.get("log"), str):
            d["log"] = [s for s in d["log"].replace(",", " ").split() if s]
        cfg = cls(**d)
        check_types(cfg)
        return cfg


def parse_size(size) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise UserError(f"size must be H W (two whole numbers), got {size!r}") from None
    if h < 1 or w < 1:
        raise UserError(f"size must be positive, got {h}x{w}")
    if max(h, w) > MAX_SIDE:  # one batch at 100000x100000 asks for tens of GiB before the first step
        raise UserError(f"size {h}x{w} is too large: each side at most {MAX_SIDE}")
    return h, w


def check_types(cfg: TrainConfig) -> None:
    """Each option has its field's type (a YAML `augment: "no"` is a string, not false; `lr: .inf` is not a
    learning rate), so a wrong type fails now in one line, not as a surprise after training."""
    for f in dataclasses.fields(cfg):
        value, kind = getattr(cfg, f.name), str(f.type)
        if value is None and "None" in kind:
            continue
        base = kind if kind == "bool | str" else kind.split(" |")[0]
        ok = {"bool | str": lambda v: isinstance(v, (bool, str)),
              "bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
              "str": lambda v: isinstance(v, str),
              "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
              "dict[str, Any]": lambda v: isinstance(v, dict)}.get(base, lambda v: True)(value)
        if not ok:
            what = {"bool | str": "true, false or a recipe name",
                    "bool": "true or false", "int": "a whole number", "float": "a finite number",
                    "str": "a string", "list[str]": "a list of names", "dict[str, Any]": "a mapping"}[base]
            raise UserError(f"{f.name.replace('_', '-')} must be {what}, got {value!r}")
    if isinstance(cfg.augment, str):  # a recipe name: known (one line listing the valid ones) before any training
        from .data.transforms import augment_policy

        augment_policy(cfg.augment)


def _positive(name: str, value, allow_none: bool = False, zero: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if zero else value > 0)
    if not ok:
        raise UserError(f"{name} must be {'0 or more' if zero else 'positive'}, got {value!r}")


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """Check every option and fill the dependent defaults; returns a new config."""
    from .losses import parse_loss
    from .models import model_info
    from .optim import check_optimizer, check_scheduler

    check_types(cfg)
    if not cfg.model:
        raise UserError("no model given: add --model NAME (see `segcompare models`)")
    if not cfg.dataset:
        raise UserError("no dataset given: add --dataset SPEC (see `segcompare datasets`)")
    if not cfg.out:
        raise UserError("no output folder given: add --out DIR")
    model_info(cfg.model)  # unknown model -> one line listing the valid names
    for name in ("epochs", "batch_size", "val_every", "grad_accum", "log_every"):
        if not isinstance(getattr(cfg, name), int) or getattr(cfg, name) < 1:
            raise UserError(f"{name.replace('_', '-')} must be a whole number >= 1, got {getattr(cfg, name)!r}")
    if cfg.max_steps is not None and (not isinstance(cfg.max_steps, int) or cfg.max_steps < 1):
        raise UserError(f"max-steps must be a whole number >= 1, got {cfg.max_steps!r}")
    _positive("lr", cfg.lr, allow_none=True)
    _positive("weight-decay", cfg.weight_decay, allow_none=True, zero=True)
    _positive("warmup", cfg.warmup, allow_none=True, zero=True)
    _positive("gamma", cfg.gamma)
    _positive("grad-clip", cfg.grad_clip, allow_none=True)
    _positive("patience", cfg.patience, zero=True)
    _positive("workers", cfg.workers, allow_none=True, zero=True)
    check_optimizer(cfg.optimizer)
    check_scheduler(cfg.scheduler)
    parse_loss(cfg.loss)
    for value, valid, what in ((cfg.strategy, STRATEGIES, "strategy"), (cfg.mixed_precision, PRECISIONS,
                               "mixed precision"), (cfg.class_weights, CLASS_WEIGHTS, "class-weights method")):
        if value not in valid:
            raise UserError(unknown(what, value, valid))
    for t in cfg.log:
        if t not in TRACKERS:
            raise UserError(unknown("logger", t, TRACKERS))

    pretrained = cfg.pretrained
    if cfg.strategy == "scratch":
        if pretrained not in (None, "none"):
            raise UserError(f"--strategy scratch trains without pretrained weights, but --pretrained {pretrained} "
                            "was given: use --strategy finetune (or frozen)")
        pretrained = "none"
    elif pretrained is None:
        pretrained = "imagenet"
    if cfg.strategy == "frozen" and pretrained == "none":
        raise UserError("--strategy frozen needs pretrained weights to freeze: use --pretrained imagenet (or a "
                        "PATH), or --strategy scratch")
    lr = cfg.lr
    if lr is None:
        lr = 2e-4 if cfg.strategy == "finetune" else 1e-3
        lr *= 10 if cfg.optimizer == "sgd" else 1
    wd = cfg.weight_decay
    if wd is None:
        wd = {"adamw": 0.01, "adam": 0.0, "sgd": 1e-4}[cfg.optimizer]
    size = parse_size(cfg.size) if cfg.size is not None else None
    return dataclasses.replace(cfg, pretrained=pretrained, lr=float(lr), weight_decay=float(wd), size=size,
                               log=list(cfg.log), dataset_options=dict(cfg.dataset_options))
