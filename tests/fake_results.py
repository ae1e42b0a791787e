"""Confusion matrices of made-up models, shared by the report and statistics tests."""

from __future__ import annotations

import numpy as np


def random_cms(n: int, accuracy: float, seed: int, k: int = 3, pixels: int = 400) -> np.ndarray:
    """n per-image [k, k] matrices (rows = truth) of a model that labels a pixel right with probability
    `accuracy` and otherwise picks one of the other classes at random."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        target = rng.integers(0, k, pixels)
        wrong = rng.random(pixels) > accuracy
        pred = np.where(wrong, (target + rng.integers(1, k, pixels)) % k, target)
        cm = np.zeros((k, k), np.int64)
        np.add.at(cm, (target, pred), 1)
        out.append(cm)
    return np.stack(out)


def miou(cm) -> float | None:
    """mIoU (0-1) of one [k, k] matrix over the classes present in truth or prediction."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    return float((tp[union > 0] / union[union > 0]).mean()) if (union > 0).any() else None


def results(model: str, cms, latency=None, names=None, image_miou=None, **extra) -> dict:
    """A results.json dict (Contract 4) of per-image matrices `cms` [n, k, k]; `latency` is a CPU p50 in ms
    or a whole latency_ms mapping; `image_miou` overrides the per-image scores computed from `cms`."""
    cms = np.asarray(cms, dtype=np.int64)
    total = cms.sum(0)
    out = {"format": "segcompare-results/1", "model": model, "checkpoint": f"runs/{model}", "dataset": "synthetic",
           "split": "test", "classes": [f"class{i}" for i in range(cms.shape[1])], "num_images": len(cms),
           "confusion_matrix": total.tolist(), "miou": miou(total),
           "per_image": {"names": list(names or [f"img{i:03d}" for i in range(len(cms))]),
                         "miou": list(image_miou) if image_miou is not None else [miou(c) for c in cms],
                         "confusion": cms.tolist()}}
    if latency is not None:
        out["latency_ms"] = latency if isinstance(latency, dict) else {"device": "cpu", "batch": 1, "p50": latency}
    return {**out, **extra}
