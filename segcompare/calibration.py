"""Probability-based metrics from a bounded pixel sample: one-vs-rest ROC and PR curves, and calibration.

Segmentation has millions of pixels per split, so `PixelSample` keeps a fixed, seeded number of
(probabilities, label) pairs per image (stratified by image, ignore pixels skipped). Curves are computed
with numpy on the sample (same definitions as scikit-learn: trapezoidal ROC AUC, step-wise average
precision) and thinned to at most `points` points for storage.
"""

from __future__ import annotations

import numpy as np
import torch

ECE_BINS = 15


class PixelSample:
    """Collects up to `per_image` random non-ignored pixels of every image (seeded per image index)."""

    def __init__(self, num_images: int, max_pixels: int = 200_000, seed: int = 0, ignore_index: int = 255):
        self.per_image = max(1, max_pixels // max(1, num_images))
        self.seed, self.ignore_index = seed, ignore_index
        self.probs: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []

    def add(self, logits: torch.Tensor, target: torch.Tensor, image_ids) -> None:
        """`logits` float[B,K,H,W], `target` int[B,H,W], `image_ids` the images' dataset indices.

        The softmax runs on the sampled pixels only (cheaper than on the whole map)."""
        for b, image_id in enumerate(image_ids):
            valid = (target[b] != self.ignore_index).reshape(-1).nonzero().squeeze(1).cpu()
            if valid.numel() == 0:
                continue
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(image_id))
            pick = valid[torch.randperm(valid.numel(), generator=g)[: self.per_image]].to(logits.device)
            self.probs.append(logits[b].flatten(1)[:, pick].T.float().softmax(1).cpu())
            self.labels.append(target[b].reshape(-1)[pick].cpu())

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.probs:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        return torch.cat(self.probs).numpy(), torch.cat(self.labels).numpy()


def _counts(scores: np.ndarray, positive: np.ndarray):
    """Cumulative false/true positives at each distinct threshold, scores descending."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]  # last index of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    return fps, tps


def roc_curve(scores, positive) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(fpr, tpr, auc), or None when the sample has no positives or no negatives."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return None
    fps, tps = _counts(scores, positive)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return fpr, tpr, auc


def pr_curve(scores, positive) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(precision, recall, average precision) with recall ascending from 0; None without positives.

    AP = sum_n (R_n - R_{n-1}) P_n, the step-wise definition (no interpolation) of scikit-learn.
    """
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    if not positive.any():
        return None
    fps, tps = _counts(scores, positive)
    prec = tps / (tps + fps)
    rec = tps / tps[-1]
    ap = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    return np.r_[1.0, prec], np.r_[0.0, rec], ap


def thin(n: int, points: int = 100) -> np.ndarray:
    """Indices of at most `points` evenly spaced points of a curve of n, first and last included."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(np.int64))


def _rounded(a: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in a]


def curves(probs: np.ndarray, labels: np.ndarray, classes: list[str], points: int = 100):
    """One-vs-rest `roc` {class: {fpr, tpr, auc}} and `pr` {class: {precision, recall, ap}}.

    A class absent from the sample gets empty curves and a null auc / ap.
    """
    roc, pr = {}, {}
    for k, name in enumerate(classes):
        positive = labels == k
        scores = probs[:, k] if probs.size else np.zeros(0)
        roc[name] = _thinned(roc_curve(scores, positive) if scores.size else None, ("fpr", "tpr", "auc"), points)
        pr[name] = _thinned(pr_curve(scores, positive) if scores.size else None, ("precision", "recall", "ap"),
                            points)
    return roc, pr


def _thinned(curve, keys: tuple[str, str, str], points: int) -> dict:
    """(x, y, area) from roc_curve / pr_curve -> {x: [...], y: [...], area} with at most ~`points` points
    (empty with area None when there is no curve)."""
    x, y, area = keys
    if curve is None:
        return {x: [], y: [], area: None}
    keep = thin(len(curve[0]), points)
    return {x: _rounded(curve[0][keep]), y: _rounded(curve[1][keep]), area: curve[2]}


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Expected calibration error of the top-class confidence, with the per-bin table behind it.

    Bins are equal-width on (0, 1], right edge inclusive; ECE = sum_b n_b / N * |accuracy_b - confidence_b|.
    """
    if probs.size == 0:
        return {"ece": None, "bins": bins, "confidence": [], "accuracy": [], "count": []}
    conf = probs.max(1).astype(np.float64)
    correct = (probs.argmax(1) == labels).astype(np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    sum_conf = np.bincount(idx, weights=conf, minlength=bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=bins)
    ece = float(np.abs(sum_acc - sum_conf).sum() / conf.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, mean_acc = sum_conf / count, sum_acc / count
    none = lambda a: [None if c == 0 else round(float(v), 6) for v, c in zip(a, count)]
    return {"ece": ece, "bins": bins, "confidence": none(mean_conf), "accuracy": none(mean_acc),
            "count": count.tolist()}
