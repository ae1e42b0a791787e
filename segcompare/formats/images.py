"""Dataset image and mask files: sizes checked from the header before decoding, mask values integral.

A PNG header may declare 30000x30000 pixels in a few bytes; decoding it would take gigabytes, so the
declared size is refused first. A mask holds class indices: a float TIFF (saved as .png or not) would be
cast silently (1.7 -> class 1), so only integer and boolean masks are read.
"""

from __future__ import annotations

import numpy as np

from .base import FormatError

MAX_DATASET_PIXELS = 40_000_000  # the largest common datasets are ~2-4 megapixels per image


def check_image_size(size: tuple[int, int], path, what: str = "image", max_pixels: int = MAX_DATASET_PIXELS) -> None:
    w, h = size
    if w < 1 or h < 1 or w * h > max_pixels:
        raise FormatError(f"{what} {path} declares {w}x{h} pixels (at most {max_pixels / 1e6:.0f} megapixels); "
                          "replace or remove the file")


def check_mask_values(arr: np.ndarray, mode: str, path) -> None:
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise FormatError(f"mask {path} holds {arr.dtype} values (mode {mode}); masks must store whole class "
                          "indices (8- or 16-bit integer PNGs)")
