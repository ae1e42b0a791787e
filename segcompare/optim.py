"""Optimizers and learning-rate schedules for training, by name.

Optimizers: `adamw` (optionally AMSGrad), `adam`, `sgd` (Nesterov momentum 0.9).
Schedules (all stepped once per optimizer step, as multipliers of the base learning rate):
- `cosine`: linear warm-up over `warmup` of the steps, then cosine decay to `min_lr_ratio`;
- `onecycle`: cosine warm-up from lr/25 over `warmup` (default 30%) of the steps, then cosine annealing to
  lr/25e4: `torch.optim.lr_scheduler.OneCycleLR(anneal_strategy="cos", pct_start=warmup)` step for step
  (learning rate only; momentum is not cycled), including its phase boundary at pct_start * steps - 1;
- `poly`: linear warm-up, then (1 - t)^0.9 (DeepLab's schedule);
- `exponential`: lr * gamma^epoch (per epoch, `ExponentialLR`'s schedule; gamma 0.98 by default);
- `none`: constant.
Every schedule is a `LambdaLR`, so its state is a few numbers (saved as JSON on resume) and a resumed run
continues exactly where it stopped.
"""

from __future__ import annotations

import math

import torch

from .errors import UserError
from .registry import unknown

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("cosine", "onecycle", "poly", "exponential", "none")
DEFAULT_WARMUP = {"cosine": 0.05, "poly": 0.05, "onecycle": 0.3, "exponential": 0.0, "none": 0.0}


def check_optimizer(name: str) -> str:
    if name not in OPTIMIZERS:
        raise UserError(unknown("optimizer", name, OPTIMIZERS))
    return name


def check_scheduler(name: str) -> str:
    if name not in SCHEDULERS:
        raise UserError(unknown("scheduler", name, SCHEDULERS))
    return name


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters; no weight decay on biases and norm layers (1-D tensors), as in timm."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(name: str, model: torch.nn.Module, lr: float, weight_decay: float = 0.01,
                    amsgrad: bool = False, momentum: float = 0.9) -> torch.optim.Optimizer:
    check_optimizer(name)
    groups = param_groups(model, weight_decay)
    if not any(g["params"] for g in groups):
        raise UserError(f"{getattr(model, 'name', 'the model')} has no trainable parameters")
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, amsgrad=amsgrad)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, amsgrad=amsgrad)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)


def lr_multiplier(name: str, total_steps: int, steps_per_epoch: int, warmup: float | None = None,
                  gamma: float = 0.98, min_lr_ratio: float = 0.0, power: float = 0.9):
    """The schedule as a function step -> multiplier of the base learning rate."""
    check_scheduler(name)
    total = max(1, int(total_steps))
    warm = DEFAULT_WARMUP[name] if warmup is None else warmup
    warm_steps = int(round(warm * total)) if warm < 1 else int(warm)  # a fraction, or a number of steps
    warm_steps = min(warm_steps, total - 1)

    def cos(a: float, b: float, t: float) -> float:  # from a to b as t goes 0 -> 1
        return b + (a - b) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))

    # OneCycleLR's phases end at steps pct * total - 1 (a float) and total - 1; the second starts where the first ends
    pct = warm if warm < 1 else warm / total
    ends = (float(pct * total) - 1, float(total - 1))

    def onecycle(step: int) -> float:
        if step <= ends[0]:
            start, end, a, b = 0.0, ends[0], 1 / 25, 1.0
        else:
            start, end, a, b = ends[0], ends[1], 1.0, 1 / 25e4
        return cos(a, b, (step - start) / (end - start) if end > start else 1.0)

    def fn(step: int) -> float:
        if name == "none":
            return 1.0
        if name == "exponential":
            return gamma ** (step // max(1, steps_per_epoch))
        if name == "onecycle":
            return onecycle(step)
        if step < warm_steps:
            return (step + 1) / (warm_steps + 1)
        t = (step - warm_steps) / max(1, total - warm_steps)
        if name == "cosine":
            return cos(1.0, min_lr_ratio, t)
        return max(min_lr_ratio, (1 - min(t, 1.0)) ** power)  # poly

    return fn


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int,
                    warmup: float | None = None, gamma: float = 0.98) -> torch.optim.lr_scheduler.LambdaLR:
    fn = lr_multiplier(name, total_steps, steps_per_epoch, warmup, gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
