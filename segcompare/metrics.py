"""Segmentation metrics: one confusion matrix (a single `torch.bincount`) and everything derived from it.

Rows of a confusion matrix are ground truth, columns are predictions; pixels whose ground truth is
`ignore_index` (255) are left out. Metrics follow torchvision's references and mmsegmentation: one
matrix over the whole split, a value per class, and means over the classes where the value is defined
(a class absent from both ground truth and prediction has no IoU and is left out of the mean).

The metric functions take a matrix `[..., K, K]` (torch tensor, numpy array or nested list; leading
dimensions are batches, e.g. bootstrap replicates) and return float64 tensors with NaN where undefined.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .formats.constants import IGNORE_INDEX


def _index(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """Flat bin index `target * K + pred` (int64), with every ignored pixel in the spare bin K*K.

    Costs what the bare `target * K + pred` costs: any target >= K (255 included) already lands at or
    past K*K, so one in-place clamp moves it to the spare bin; no boolean mask, no compaction, no device
    sync. `pred` must hold class indices in [0, K) (an argmax); a negative target makes bincount raise.
    """
    k = num_classes
    idx = torch.add(pred.long(), target.long(), alpha=k)  # one fused op: pred + K * target
    idx.clamp_(max=k * k)
    if not ignore_index >= k:  # an ignore value inside the class range (or negative) needs an explicit mask
        idx.masked_fill_(target == ignore_index, k * k)
    return idx


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """int64 `[K, K]` matrix (rows = truth, cols = prediction) of label maps of any equal shape."""
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    idx = _index(pred, target, num_classes, ignore_index).reshape(-1)
    k2 = num_classes * num_classes
    return torch.bincount(idx, minlength=k2 + 1)[:k2].reshape(num_classes, num_classes)


def confusion_per_image(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                        ignore_index: int = IGNORE_INDEX, mask: torch.Tensor | None = None) -> torch.Tensor:
    """int64 `[B, K, K]`: one matrix per image of `[B, H, W]` label maps, still one bincount.

    `mask` (bool `[B, H, W]`) restricts the count to some pixels, e.g. a boundary band.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    b, k = pred.shape[0], num_classes
    k2 = k * k
    idx = _index(pred, target, k, ignore_index)
    if mask is not None:
        idx.masked_fill_(~mask, k2)
    idx += torch.arange(b, device=idx.device).view(b, *([1] * (idx.dim() - 1))) * (k2 + 1)
    counts = torch.bincount(idx.reshape(-1), minlength=b * (k2 + 1))
    return counts.view(b, k2 + 1)[:, :k2].reshape(b, k, k)


class ConfusionMatrix:
    """Accumulates a confusion matrix on the device of the first batch; `reduce()` sums across processes."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device=None):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> ConfusionMatrix:
        """Add label maps `pred`, `target` of the same shape (any batch layout)."""
        return self.add(confusion_matrix(pred, target, self.num_classes, self.ignore_index))

    def add(self, cm: torch.Tensor) -> ConfusionMatrix:
        """Add a precomputed `[K, K]` matrix (or a stack `[B, K, K]`)."""
        cm = torch.as_tensor(cm)
        if cm.dim() == 3:
            cm = cm.sum(0)
        if self.mat.device != cm.device:
            if not self.mat.any():  # still empty: follow the data's device
                self.mat = self.mat.to(cm.device)
            else:
                cm = cm.to(self.mat.device)
        self.mat += cm
        return self

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.add(other.mat)

    def reset(self) -> None:
        self.mat.zero_()

    def reduce(self) -> ConfusionMatrix:
        """Sum the matrix over processes when torch.distributed is initialised (no-op otherwise)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.mat, op=torch.distributed.ReduceOp.SUM)
        return self

    def summary(self) -> dict:
        return summarize(self.mat)

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, pixels={int(self.mat.sum())})"


# --- metrics of a matrix -------------------------------------------------------------------------------

def _as_float(cm) -> torch.Tensor:
    return torch.as_tensor(cm).to(torch.float64)


def _parts(cm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(true positives, ground-truth pixels, predicted pixels) per class."""
    cm = _as_float(cm)
    return cm.diagonal(dim1=-2, dim2=-1), cm.sum(-1), cm.sum(-2)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den with NaN (not inf, not 0) where den == 0."""
    return torch.where(den > 0, num / den.clamp(min=1e-300), torch.full_like(num, float("nan")))


def iou_per_class(cm) -> torch.Tensor:
    tp, gt, pr = _parts(cm)
    return _ratio(tp, gt + pr - tp)


def miou(cm) -> torch.Tensor:
    """Mean IoU over the classes present in ground truth or prediction (NaN if there are none)."""
    return torch.nanmean(iou_per_class(cm), dim=-1)


def pixel_accuracy(cm) -> torch.Tensor:
    tp, gt, _ = _parts(cm)
    return _ratio(tp.sum(-1), gt.sum(-1))


def recall(cm) -> torch.Tensor:
    """Per-class recall (= per-class accuracy): NaN for a class absent from the ground truth."""
    tp, gt, _ = _parts(cm)
    return _ratio(tp, gt)


def precision(cm) -> torch.Tensor:
    """Per-class precision: NaN for a class never predicted."""
    tp, _, pr = _parts(cm)
    return _ratio(tp, pr)


def f1(cm) -> torch.Tensor:
    """Per-class F1 (= Dice): 2 TP / (GT + predicted)."""
    tp, gt, pr = _parts(cm)
    return _ratio(2 * tp, gt + pr)


def mean_accuracy(cm) -> torch.Tensor:
    """Mean per-class recall over the classes present in the ground truth."""
    return torch.nanmean(recall(cm), dim=-1)


def _floats(t: torch.Tensor):
    """Python float / list with None in place of NaN (results.json never contains NaN)."""
    vals = t.tolist()
    if isinstance(vals, list):
        return [None if v != v else float(v) for v in vals]
    return None if vals != vals else float(vals)


def summarize(cm) -> dict:
    """Every metric of one matrix as JSON-ready Python values (None where undefined)."""
    return {
        "miou": _floats(miou(cm)),
        "per_class_iou": _floats(iou_per_class(cm)),
        "pixel_accuracy": _floats(pixel_accuracy(cm)),
        "mean_accuracy": _floats(mean_accuracy(cm)),
        "per_class_precision": _floats(precision(cm)),
        "per_class_recall": _floats(recall(cm)),
        "per_class_f1": _floats(f1(cm)),
    }


# --- boundary band -------------------------------------------------------------------------------------

def boundary_band(target: torch.Tensor, px: int) -> torch.Tensor:
    """Bool mask of the pixels within `px` pixels (square window) of a ground-truth label change.

    Max-pool dilation and erosion of the label map: a pixel is in the band when the largest and the
    smallest label in its (2px+1)^2 window differ. The image border is not an edge (pooling pads with
    -inf). Ignore pixels are labels too, so the band also runs along ignore regions; the ignore pixels
    themselves are dropped later by the confusion matrix. Accepts `[H, W]` or `[B, H, W]`.
    """
    if px < 0:
        raise ValueError(f"boundary px must be >= 0, got {px}")
    squeeze = target.dim() == 2
    t = target.unsqueeze(0) if squeeze else target
    if px == 0:
        band = torch.zeros_like(t, dtype=torch.bool)
    else:
        x = t.unsqueeze(1).float()  # labels <= 255 are exact in float32
        band = (_square_max(x, px) != -_square_max(-x, px)).squeeze(1)
    return band.squeeze(0) if squeeze else band


def _square_max(x: torch.Tensor, px: int) -> torch.Tensor:
    """Max over a (2px+1)^2 window as two 1-D passes (exact for a square; ~1.4x faster than one 2-D pool)."""
    k = 2 * px + 1
    x = F.max_pool2d(x, (k, 1), stride=1, padding=(px, 0))
    return F.max_pool2d(x, (1, k), stride=1, padding=(0, px))


# --- taxonomy remap ------------------------------------------------------------------------------------

def mapping_matrix(mapping, num_old: int | None = None, num_new: int | None = None,
                   ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """`[K_old, K_new]` 0/1 matrix from a list (position = old index) or dict {old: new}.

    A new index of None or `ignore_index` drops the old class (and unlisted dict keys are dropped).
    """
    if isinstance(mapping, dict):
        pairs = {int(k): v for k, v in mapping.items()}
        num_old = num_old if num_old is not None else max(pairs) + 1
        seq = [pairs.get(i) for i in range(num_old)]
    else:
        seq = list(mapping)
        num_old = num_old if num_old is not None else len(seq)
        if len(seq) != num_old:
            raise ValueError(f"mapping lists {len(seq)} classes, the matrix has {num_old}")
    kept = [None if v is None or int(v) == ignore_index else int(v) for v in seq]
    if any(v is not None and v < 0 for v in kept):
        raise ValueError(f"negative class index in mapping {seq}")
    top = max((v for v in kept if v is not None), default=-1) + 1
    num_new = num_new if num_new is not None else top
    if top > num_new:
        raise ValueError(f"mapping sends a class to index {top - 1} but there are only {num_new} new classes")
    m = torch.zeros(num_old, num_new, dtype=torch.int64)
    for old, new in enumerate(kept):
        if new is not None:
            m[old, new] = 1
    return m


def remap_confusion(cm, mapping, num_new: int | None = None,
                    ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Confusion matrix `[..., K_old, K_old]` of old classes -> `[..., K_new, K_new]` of merged ones.

    Pixels of a dropped class are dropped on both sides (as if the label set never had the class).
    """
    cm = torch.as_tensor(cm).to(torch.int64)
    m = mapping_matrix(mapping, cm.shape[-1], num_new, ignore_index)
    return m.T @ cm @ m

