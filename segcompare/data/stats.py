"""Class-frequency statistics of a dataset split, and class weights derived from them for the loss.

Counts are taken on the masks at their stored resolution (no resizing or augmentation), from `load_mask(i)`
when the dataset has it (on-disk families: no image decoding) or from `load(i)` otherwise.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

WEIGHT_METHODS = ("inverse_sqrt", "inverse", "median")


def _mask(dataset, i: int) -> np.ndarray:
    if hasattr(dataset, "load_mask"):
        return np.asarray(dataset.load_mask(i))
    return np.asarray(dataset.load(i)[1])


def sample_indices(n: int, max_images: int | None) -> list[int]:
    """All indices, or `max_images` spread evenly over the split (the first N would favour one city/breed)."""
    if max_images is None or max_images >= n:
        return list(range(n))
    if max_images < 1:
        raise UserError(f"max_images must be at least 1, got {max_images}")
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, max_images)})


def class_stats(dataset, max_images: int | None = None, progress=None) -> dict:
    """Pixel count and share per class of a split.

    Returns {"dataset", "split", "classes", "num_images", "total_pixels", "pixels" (per class),
    "fraction" (share of the labelled, i.e. non-ignored, pixels), "images_with" (images containing the
    class), "image_pixels" (all pixels of those images: median-frequency weights need it),
    "ignored_pixels", "ignored_fraction" (share of all pixels)}.
    """
    k, ignore = len(dataset.classes), getattr(dataset, "ignore_index", 255)
    pixels = np.zeros(k, dtype=np.int64)
    images_with = np.zeros(k, dtype=np.int64)
    image_pixels = np.zeros(k, dtype=np.int64)
    total = ignored = 0
    indices = sample_indices(len(dataset), max_images)
    for i in indices:
        mask = _mask(dataset, i).astype(np.int64, copy=False)
        counts = np.bincount(mask.ravel(), minlength=max(k, ignore + 1))
        if counts[k:].sum() != counts[ignore]:
            bad = sorted(set(np.flatnonzero(counts[k:]) + k) - {ignore})
            raise UserError(f"mask of {dataset.name(i)} has values {bad} outside the {k} classes")
        present = counts[:k] > 0
        pixels += counts[:k]
        images_with += present
        image_pixels += present * mask.size
        total += mask.size
        ignored += int(counts[ignore])
        if progress:
            progress(i)
    labelled = max(int(pixels.sum()), 1)
    return {"dataset": getattr(dataset, "spec", ""), "split": getattr(dataset, "split", ""),
            "classes": list(dataset.classes), "num_images": len(indices), "total_pixels": int(total),
            "pixels": pixels.tolist(), "fraction": (pixels / labelled).tolist(),
            "images_with": images_with.tolist(), "image_pixels": image_pixels.tolist(),
            "ignored_pixels": int(ignored), "ignored_fraction": ignored / max(total, 1)}


def class_weights(stats: dict, method: str = "inverse_sqrt") -> list[float]:
    """Per-class loss weights, scaled so that their mean over the classes present is 1.

    inverse: 1/f; inverse_sqrt: 1/sqrt(f) (milder); median: median frequency balancing (Eigen & Fergus 2015),
    median(freq)/freq with freq = class pixels / pixels of the images that contain the class.
    A class absent from the statistics gets weight 0 (it contributes no loss anyway).
    """
    pixels = np.asarray(stats["pixels"], dtype=np.float64)
    present = pixels > 0
    if not present.any():
        raise UserError(f"no labelled pixels in {stats.get('dataset', 'the dataset')}: cannot weight classes")
    if method == "inverse":
        raw = 1.0 / np.where(present, pixels / pixels.sum(), 1.0)
    elif method == "inverse_sqrt":
        raw = 1.0 / np.sqrt(np.where(present, pixels / pixels.sum(), 1.0))
    elif method == "median":
        freq = np.where(present, pixels / np.maximum(np.asarray(stats["image_pixels"], float), 1.0), 1.0)
        raw = np.median(freq[present]) / freq
    else:
        raise UserError(f"unknown class weight method {method!r}. Valid: {', '.join(WEIGHT_METHODS)}")
    raw = np.where(present, raw, 0.0)
    return (raw / raw[present].mean()).tolist()


def format_stats(stats: dict, weights: str | None = "inverse_sqrt") -> str:
    """A plain-text table: one row per class with pixel share, images containing it and a loss weight."""
    w = class_weights(stats, weights) if weights and any(stats["pixels"]) else None
    width = max([len(c) for c in stats["classes"]] + [12])
    head = f"{stats['dataset']}  split={stats['split']}  images={stats['num_images']}  " \
           f"pixels={stats['total_pixels']:,}"
    lines = [head, f"{'class':<{width}}  {'pixels':>14}  {'share':>7}  {'images':>7}"
             + (f"  weight ({weights})" if w else "")]
    for c, name in enumerate(stats["classes"]):
        row = (f"{name:<{width}}  {stats['pixels'][c]:>14,}  {100 * stats['fraction'][c]:>6.1f}%  "
               f"{stats['images_with'][c]:>7}")
        lines.append(row + (f"  {w[c]:.3f}" if w else ""))
    lines.append(f"{'ignored (255)':<{width}}  {stats['ignored_pixels']:>14,}  "
                 f"{100 * stats['ignored_fraction']:>6.1f}%  of all pixels")
    return "\n".join(lines)
