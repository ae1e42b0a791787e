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
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import UserError
from .registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.add("adamw", lambda groups, lr, amsgrad, momentum: torch.optim.AdamW(groups, lr=lr, amsgrad=amsgrad))
OPTIMIZERS.add("adam", lambda groups, lr, amsgrad, momentum: torch.optim.Adam(groups, lr=lr, amsgrad=amsgrad))
OPTIMIZERS.add("sgd", lambda groups, lr, amsgrad, momentum: torch.optim.SGD(groups, lr=lr, momentum=momentum,
                                                                           nesterov=momentum > 0))


@dataclass(frozen=True)
class Plan:
    """What every schedule needs to know about the run, fixed when the schedule is built."""

    total: int
    warm_steps: int
    steps_per_epoch: int
    gamma: float
    min_lr_ratio: float
    power: float
    onecycle_ends: tuple[float, float]  # OneCycleLR's phase ends: pct * total - 1 (a float) and total - 1


@dataclass(frozen=True)
class Schedule:
    multiplier: Callable[[int, Plan], float]  # (step, plan) -> multiplier of the base learning rate
    default_warmup: float


def _cos(a: float, b: float, t: float) -> float:  # from a to b as t goes 0 -> 1
    return b + (a - b) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def _warm_then(decay: Callable[[float, Plan], float]) -> Callable[[int, Plan], float]:
    """Linear warm-up over `plan.warm_steps`, then `decay(t, plan)` as t goes 0 -> 1 over the other steps."""

    def fn(step: int, plan: Plan) -> float:
        if step < plan.warm_steps:
            return (step + 1) / (plan.warm_steps + 1)
        return decay((step - plan.warm_steps) / max(1, plan.total - plan.warm_steps), plan)

    return fn


def _onecycle(step: int, plan: Plan) -> float:
    first, last = plan.onecycle_ends  # the second phase starts where the first ends
    start, end, a, b = (0.0, first, 1 / 25, 1.0) if step <= first else (first, last, 1.0, 1 / 25e4)
    return _cos(a, b, (step - start) / (end - start) if end > start else 1.0)


SCHEDULERS: Registry[Schedule] = Registry("scheduler")
SCHEDULERS.add("cosine", Schedule(_warm_then(lambda t, p: _cos(1.0, p.min_lr_ratio, t)), 0.05))
SCHEDULERS.add("onecycle", Schedule(_onecycle, 0.3))
SCHEDULERS.add("poly", Schedule(_warm_then(lambda t, p: max(p.min_lr_ratio, (1 - min(t, 1.0)) ** p.power)), 0.05))
SCHEDULERS.add("exponential", Schedule(lambda step, p: p.gamma ** (step // max(1, p.steps_per_epoch)), 0.0))
SCHEDULERS.add("none", Schedule(lambda step, p: 1.0, 0.0))


def check_optimizer(name: str) -> str:
    OPTIMIZERS.get(name)  # an unknown name lists the valid ones
    return name


def check_scheduler(name: str) -> str:
    SCHEDULERS.get(name)
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
    build = OPTIMIZERS.get(name)
    groups = param_groups(model, weight_decay)
    if not any(g["params"] for g in groups):
        raise UserError(f"{getattr(model, 'name', 'the model')} has no trainable parameters")
    return build(groups, lr, amsgrad, momentum)


def lr_multiplier(name: str, total_steps: int, steps_per_epoch: int, warmup: float | None = None,
                  gamma: float = 0.98, min_lr_ratio: float = 0.0, power: float = 0.9):
    """The schedule as a function step -> multiplier of the base learning rate."""
    schedule = SCHEDULERS.get(name)
    total = max(1, int(total_steps))
    warm = schedule.default_warmup if warmup is None else warmup
    warm_steps = int(round(warm * total)) if warm < 1 else int(warm)  # a fraction, or a number of steps
    pct = warm if warm < 1 else warm / total
    plan = Plan(total, min(warm_steps, total - 1), steps_per_epoch, gamma, min_lr_ratio, power,
                (float(pct * total) - 1, float(total - 1)))
    return lambda step: schedule.multiplier(step, plan)  # a plain function: LambdaLR saves no state for it


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int,
                    warmup: float | None = None, gamma: float = 0.98) -> torch.optim.lr_scheduler.LambdaLR:
    fn = lr_multiplier(name, total_steps, steps_per_epoch, warmup, gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
