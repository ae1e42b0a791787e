"""Export test samples (image + ground-truth mask) for the app's gallery: `assets/samples/<task>/`.

Each sample is `<name>.png` (RGB) and `<name>_mask.png` (single-channel labels, 255 = ignored), taken
from a dataset's fixed test split at the size the models were trained on, so the app can show the ground
truth and score every model on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .data import get_dataset


def export_samples(dataset: str, out_dir: str | Path, count: int = 8, split: str = "test", size=None,
                   **options) -> list[Path]:
    """Write the first `count` images of `split` with their masks; returns the image paths."""
    ds = get_dataset(dataset, split, size=size, augment=False, normalize=False, **options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    n = min(count, len(ds))
    # spread over the split: the first few images of a list are often one breed or one stretch of video
    picks = sorted({round(j * (len(ds) - 1) / max(n - 1, 1)) for j in range(n)})
    for i in picks:
        image, mask = ds[i]
        rgb = (image.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        name = ds.name(i)
        Image.fromarray(rgb).save(out / f"{name}.png", optimize=True)
        Image.fromarray(mask.numpy().astype(np.uint8), mode="L").save(out / f"{name}_mask.png", optimize=True)
        written.append(out / f"{name}.png")
    return written
