"""Joint image+mask transforms on numpy arrays (image uint8 HxWx3, mask HxW), then tensor conversion.

Geometric transforms move image and mask together (bilinear for the image, nearest for the mask, 255 for
padding); photometric ones touch the image only.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def resize(image: np.ndarray, mask: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    h, w = size
    if image.shape[:2] == (h, w):
        return image, mask
    img = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    m = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((w, h), Image.NEAREST))
    return img, m


def random_scale_crop(image, mask, size, rng, scale=(0.75, 1.5), ignore_index=255):
    """Scale by a random factor, pad (mask with ignore_index) and take a random crop of `size`."""
    h, w = size
    s = rng.uniform(*scale)
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    image, mask = resize(image, mask, (sh, sw))
    ph, pw = max(0, h - sh), max(0, w - sw)
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)))
        mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=ignore_index)
    y = rng.integers(0, image.shape[0] - h + 1)
    x = rng.integers(0, image.shape[1] - w + 1)
    return image[y:y + h, x:x + w], mask[y:y + h, x:x + w]


def color_jitter(image, rng, brightness=0.25, contrast=0.25, saturation=0.25):
    img = image.astype(np.float32)
    img = img * rng.uniform(1 - brightness, 1 + brightness)
    mean = img.mean()
    img = (img - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    gray = img.mean(axis=2, keepdims=True)
    img = (img - gray) * rng.uniform(1 - saturation, 1 + saturation) + gray
    return np.clip(img, 0, 255).astype(np.uint8)


def prepare(image, mask, size=None, augment=False, rng=None, ignore_index=255):
    """Resize to `size` (evaluation) or random scale+crop, flip and jitter (training)."""
    image, mask = np.asarray(image), np.asarray(mask)
    if augment:
        rng = rng if rng is not None else np.random.default_rng()
        target = size or image.shape[:2]
        image, mask = random_scale_crop(image, mask, target, rng, ignore_index=ignore_index)
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        image = color_jitter(image, rng)
    elif size is not None:
        image, mask = resize(image, mask, size)
    return image, mask


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 3xHxW in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255)


def normalize(img: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.as_tensor(mean, dtype=img.dtype).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=img.dtype).view(-1, 1, 1)
    return (img - m) / s
