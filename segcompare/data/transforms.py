"""Joint image+mask transforms on numpy arrays (image uint8 HxWx3, mask HxW), then tensor conversion.

Geometric transforms move image and mask together (bilinear for the image, nearest for the mask, the ignore
index for padding); photometric ones (colour jitter) touch the image only. Everything works on uint8 through
Pillow's C code, so one CPU core prepares several hundred small images per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageEnhance

from ..registry import Registry


@dataclass(frozen=True)
class Augment:
    """A training augmentation recipe: random scale of the target size then a crop back to it (`scale`, a
    range of factors; None = no rescale), a horizontal flip half the time, and colour jitter of up to
    +-`jitter` in brightness, contrast and saturation."""

    scale: tuple[float, float] | None
    flip: bool
    jitter: float


# By name (TrainConfig.augment; `True` means DEFAULT_AUGMENT). `flip` is the default because on real photos at
# the default budget (20 epochs) `scale-crop` under-trained (0.94x the plain loop's mIoU on CamVid) and `light`
# was no better overall (0.97x on CamVid); with the default loss `ce+dice` the default recipe beats a plain
# PyTorch loop on CamVid and the Oxford-IIIT Pet subset (benchmarks/bench_recipe.py, the table in the README).
# Longer runs or bigger models may want `light` or `scale-crop`: set `augment:`.
AUGMENTATIONS: Registry[Augment] = Registry("augmentation")
AUGMENTATIONS.add("scale-crop", Augment(scale=(0.75, 1.5), flip=True, jitter=0.25))
AUGMENTATIONS.add("light", Augment(scale=(0.9, 1.25), flip=True, jitter=0.1))
AUGMENTATIONS.add("flip", Augment(scale=None, flip=True, jitter=0.0))
AUGMENTATIONS.add("none", Augment(scale=None, flip=False, jitter=0.0))
DEFAULT_AUGMENT = "flip"
# The widest recipe's values: the defaults of random_scale_crop and color_jitter when called on their own.
SCALE_RANGE, JITTER = AUGMENTATIONS.get("scale-crop").scale, AUGMENTATIONS.get("scale-crop").jitter


def augment_policy(augment: bool | str | Augment | None) -> Augment | None:
    """TrainConfig.augment -> the recipe, or None for no augmentation: True = DEFAULT_AUGMENT, False = none,
    a name = that recipe (an unknown name lists the valid ones)."""
    if augment is None or augment is False:
        return None
    if isinstance(augment, Augment):
        return augment
    policy = AUGMENTATIONS.get(DEFAULT_AUGMENT if augment is True else augment)
    return None if policy == AUGMENTATIONS.get("none") else policy


def resize_image(image: np.ndarray, size) -> np.ndarray:
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def resize_mask(mask: np.ndarray, size) -> np.ndarray:
    h, w = size
    if mask.shape[:2] == (h, w):
        return mask
    # Nearest neighbour: a resized mask never contains a value that was not in the original.
    return np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((w, h), Image.NEAREST))


def resize(image: np.ndarray, mask: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    return resize_image(image, size), resize_mask(mask, size)


def pad_to(image, mask, size, ignore_index=255):
    """Pad at the bottom and right up to `size`: black image, `ignore_index` in the mask."""
    ph, pw = max(0, size[0] - image.shape[0]), max(0, size[1] - image.shape[1])
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)))
        mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=ignore_index)
    return image, mask


def random_crop(image, mask, size, rng):
    h, w = size
    y = int(rng.integers(0, image.shape[0] - h + 1))
    x = int(rng.integers(0, image.shape[1] - w + 1))
    return image[y:y + h, x:x + w], mask[y:y + h, x:x + w]


def random_scale_crop(image, mask, size, rng, scale=SCALE_RANGE, ignore_index=255):
    """Resize to a random multiple of `size`, pad (mask: ignore_index) and take a random crop of `size`."""
    h, w = size
    s = rng.uniform(*scale)
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    if sh < h or sw < w:  # smaller than the crop: resize all of it and pad
        image, mask = resize(image, mask, (sh, sw))
        image, mask = pad_to(image, mask, size, ignore_index)
        return random_crop(image, mask, size, rng)
    y, x = int(rng.integers(0, sh - h + 1)), int(rng.integers(0, sw - w + 1))
    # Same result as resizing to (sh, sw) and cropping, but only the crop's pixels are computed.
    fy, fx = image.shape[0] / sh, image.shape[1] / sw
    box = (x * fx, y * fy, (x + w) * fx, (y + h) * fy)
    img = Image.fromarray(np.ascontiguousarray(image)).resize((w, h), Image.BILINEAR, box=box)
    m = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).resize((w, h), Image.NEAREST, box=box)
    return np.asarray(img), np.asarray(m)


def hflip(image, mask):
    return image[:, ::-1], mask[:, ::-1]


def color_jitter(image, rng, brightness=JITTER, contrast=JITTER, saturation=JITTER):
    """Random brightness, contrast and saturation (Pillow's enhancers, in random order); image only."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    ops = [(ImageEnhance.Brightness, brightness), (ImageEnhance.Contrast, contrast),
           (ImageEnhance.Color, saturation)]
    for k in rng.permutation(len(ops)):
        enhancer, amount = ops[k]
        if amount:
            pil = enhancer(pil).enhance(rng.uniform(1 - amount, 1 + amount))
    return np.asarray(pil)


def work_size(size, augment, original=None):
    """The resolution worth decoding and caching for a target `size`.

    Evaluation needs exactly `size`. Training rescales by up to the recipe's largest scale before cropping, so
    keep that much detail, but never more than the original has. None means "the original size".
    """
    if size is None:
        return None
    policy = augment_policy(augment)
    if policy is None or policy.scale is None:
        return tuple(size)
    big = (math.ceil(size[0] * policy.scale[1]), math.ceil(size[1] * policy.scale[1]))
    if original is not None and original[0] * original[1] <= big[0] * big[1]:
        return tuple(original)
    return big


def prepare(image, mask, size=None, augment=False, rng=None, ignore_index=255):
    """Resize to `size` (evaluation), or apply the `augment` recipe (training; see `augment_policy`)."""
    image, mask = np.asarray(image), np.asarray(mask)
    policy = augment_policy(augment)
    if policy is None:
        return resize(image, mask, size) if size is not None else (image, mask)
    rng = rng if rng is not None else np.random.default_rng()
    target = size or image.shape[:2]
    if policy.scale is not None:
        image, mask = random_scale_crop(image, mask, target, rng, scale=policy.scale, ignore_index=ignore_index)
    else:
        image, mask = resize(image, mask, target)
    if policy.flip and rng.random() < 0.5:
        image, mask = hflip(image, mask)
    if policy.jitter:
        image = color_jitter(image, rng, policy.jitter, policy.jitter, policy.jitter)
    return image, mask


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 3xHxW in [0, 1] (contiguous)."""
    # In numpy on purpose: torch parallelises this conversion with OpenMP, which on a small image costs more
    # than it saves and is many times slower when other processes keep the cores busy.
    chw = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)).astype(np.float32)
    chw /= np.float32(255)
    return torch.from_numpy(chw)


def normalize(img: torch.Tensor, mean, std) -> torch.Tensor:
    """(img - mean) / std per channel, for [3,H,W] or [B,3,H,W]."""
    if img.device.type == "cpu" and img.dtype == torch.float32 and not img.requires_grad:
        m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        s = np.asarray(std, np.float32).reshape(-1, 1, 1)
        out = img.numpy() - m  # numpy for the reason given in to_tensor
        out /= s
        return torch.from_numpy(out)
    m = torch.as_tensor(mean, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    return (img - m) / s
