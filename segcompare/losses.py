"""Segmentation losses by name: `build_loss("ce+dice")` over `smp.losses` and cross-entropy.

Names: `ce`, `dice`, `focal`, `tversky`, `lovasz`, `jaccard`, and weighted sums written with `+`, e.g.
`ce+dice` or `ce+0.5*dice`. `tversky` weighs false positives by alpha and false negatives by beta: 0.3 and 0.7
by default (Salehi et al. 2017; alpha = beta = 0.5 would be Dice), set as `tversky(alpha=0.5,beta=0.5)`.
Every loss takes logits float[B,K,H,W] and a mask int64[B,H,W] whose
`ignore_index` (255) pixels contribute nothing. smp's losses run in "multiclass" mode.
Optional per-class weights (e.g. from `segcompare.data.stats.class_weights`) go to every term that supports
them (all but lovasz).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .formats.constants import IGNORE_INDEX
from .registry import Registry


class CrossEntropy(nn.Module):
    def __init__(self, ignore_index: int = IGNORE_INDEX, class_weights: Sequence[float] | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        w = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights is not None else None
        self.register_buffer("weight", w, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(logits.dtype) if self.weight is not None else None
        return F.cross_entropy(logits, target, weight=weight, ignore_index=self.ignore_index)


def _smp(cls_name: str, **fixed) -> Callable[..., nn.Module]:
    def build(ignore_index: int, class_weights, **params):
        import segmentation_models_pytorch as smp

        cls = getattr(smp.losses, cls_name)
        kwargs = dict(mode="multiclass", ignore_index=ignore_index, **{**fixed, **params})
        if class_weights is not None and cls_name != "LovaszLoss":
            kwargs["class_weights"] = list(class_weights)
        return cls(**kwargs)

    return build


LOSSES: Registry[Callable[..., nn.Module]] = Registry("loss", hint="(sums like ce+dice or ce+0.5*dice work too)")
LOSSES.add("ce", lambda ignore_index, class_weights, **_: CrossEntropy(ignore_index, class_weights))
LOSSES.add("dice", _smp("DiceLoss"))
LOSSES.add("focal", _smp("FocalLoss"))
LOSSES.add("tversky", _smp("TverskyLoss", alpha=0.3, beta=0.7))
LOSSES.add("lovasz", _smp("LovaszLoss"))
LOSSES.add("jaccard", _smp("JaccardLoss"))


class SumLoss(nn.Module):
    """Weighted sum of named losses; `terms` keeps the parts for logging."""

    def __init__(self, parts: list[tuple[float, str, nn.Module]]):
        super().__init__()
        self.weights = [w for w, _, _ in parts]
        self.names = [n for _, n, _ in parts]
        self.parts = nn.ModuleList(m for _, _, m in parts)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for w, m in zip(self.weights, self.parts):
            total = total + w * m(logits, target)
        return total

    def extra_repr(self) -> str:
        return " + ".join(f"{w:g}*{n}" for w, n in zip(self.weights, self.names))


# Settable parameters per loss (NAME(key=value,...)); each must be a number in [0, 1].
PARAMS = {"tversky": ("alpha", "beta")}


def parse_loss(spec: str) -> list[tuple[float, str]]:
    """`"ce+0.5*dice"` -> [(1.0, "ce"), (0.5, "dice")]; unknown names raise a one-line UserError."""
    return [(w, name) for w, name, _ in parse_terms(spec)]


def _params(name: str, text: str, spec: str) -> dict[str, float]:
    """`alpha=0.7,beta=0.3` of `tversky(...)` -> {"alpha": 0.7, "beta": 0.3}."""
    valid = PARAMS.get(name, ())
    out = {}
    for pair in filter(None, text.split(",")):
        key, _, value = pair.partition("=")
        if key not in valid:
            raise UserError(f"loss {name!r} in {spec!r} has no parameter {key!r}"
                            + (f"; valid: {', '.join(valid)}" if valid else "; it takes none"))
        try:
            out[key] = float(value)
        except ValueError:
            raise UserError(f"{name} {key} in {spec!r} must be a number, got {value!r}") from None
        if not 0 <= out[key] <= 1:
            raise UserError(f"{name} {key} in {spec!r} must be between 0 and 1, got {value}")
    return out


def parse_terms(spec: str) -> list[tuple[float, str, dict]]:
    """`"ce+0.5*tversky(alpha=0.7)"` -> [(1.0, "ce", {}), (0.5, "tversky", {"alpha": 0.7})]."""
    terms = []
    for raw in str(spec).lower().replace(" ", "").split("+"):
        weight, _, name = raw.rpartition("*")
        name, paren, rest = name.partition("(")
        if paren and not rest.endswith(")"):
            raise UserError(f"bad loss term {raw!r} in {spec!r}: close the parenthesis, e.g. tversky(alpha=0.7)")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise UserError(f"bad loss term {raw!r} in {spec!r}: write WEIGHT*NAME, e.g. 0.5*dice") from None
        LOSSES.get(name)  # an unknown name lists the valid ones
        if not w > 0:
            raise UserError(f"loss weight must be positive in {spec!r}, got {w:g}")
        terms.append((w, name, _params(name, rest[:-1], spec) if paren else {}))
    return terms


def build_loss(spec: str = "ce", ignore_index: int = IGNORE_INDEX,
               class_weights: Sequence[float] | None = None) -> nn.Module:
    """A loss module from a name or a sum of names (see the module docstring)."""
    terms = parse_terms(spec)
    parts = [(w, n, LOSSES.get(n)(ignore_index, class_weights, **params)) for w, n, params in terms]
    if len(parts) == 1 and parts[0][0] == 1.0:
        return parts[0][2]
    return SumLoss(parts)


def list_losses() -> list[str]:
    return LOSSES.names()
