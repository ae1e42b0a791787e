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
