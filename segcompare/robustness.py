"""Image corruptions for the robustness sweep, in the spirit of ImageNet-C / Cityscapes-C.

Each corruption maps un-normalised images float[B,3,H,W] in [0, 1] to corrupted images in [0, 1] at
severity 1, 2 or 3. Random ones (noise, fog) draw from one generator per image, seeded by
(seed, corruption, severity, image index), so results do not depend on batch size or order.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .registry import Registry

SEVERITIES = (1, 2, 3)
CORRUPTIONS: Registry[Callable] = Registry("corruption")


def _generator(seed: int, name: str, severity: int, image_id: int) -> torch.Generator:
    tag = sum(ord(c) * 31**i for i, c in enumerate(name)) % 2**31
    state = np.random.SeedSequence([seed, tag, severity, int(image_id)]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


@CORRUPTIONS.register("brightness")
def brightness(x, severity, gens):
    return (x + (0.15, 0.3, 0.45)[severity - 1]).clamp(0, 1)


@CORRUPTIONS.register("contrast")
def contrast(x, severity, gens):
    c = (0.6, 0.4, 0.2)[severity - 1]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c + mean).clamp(0, 1)


@CORRUPTIONS.register("gaussian_noise")
def gaussian_noise(x, severity, gens):
    sigma = (0.04, 0.08, 0.15)[severity - 1]
    noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in gens]).to(x.device)
    return (x + sigma * noise).clamp(0, 1)


@CORRUPTIONS.register("blur")
def blur(x, severity, gens):
    from torchvision.transforms.v2.functional import gaussian_blur

    sigma = (1.0, 2.0, 3.5)[severity - 1]
    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(x, [k, k], [sigma, sigma]).clamp(0, 1)


@CORRUPTIONS.register("jpeg")
def jpeg(x, severity, gens):
    quality = (30, 15, 5)[severity - 1]
    out = []
    for img in x.cpu():
        buf = io.BytesIO()
        arr = (img.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        out.append(torch.from_numpy(back.copy()).permute(2, 0, 1).float() / 255)
    return torch.stack(out).to(x.device)


def _smooth_noise(g: torch.Generator, h: int, w: int) -> torch.Tensor:
    """Cloud-like noise in [0, 1]: two octaves of upsampled random grids."""
    total = torch.zeros(1, 1, h, w)
    for cells, weight in ((4, 0.65), (12, 0.35)):
        grid = torch.rand(1, 1, cells, cells, generator=g)
        total += weight * F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
    lo, hi = total.min(), total.max()
    return ((total - lo) / (hi - lo).clamp(min=1e-6))[0]


@CORRUPTIONS.register("fog")
def fog(x, severity, gens):
    a = (0.35, 0.55, 0.75)[severity - 1]
    h, w = x.shape[-2:]
    alpha = torch.stack([a * (0.5 + 0.5 * _smooth_noise(g, h, w)) for g in gens]).to(x.device)
    return x * (1 - alpha) + 0.85 * alpha


@CORRUPTIONS.register("dark")
def dark(x, severity, gens):
    gamma, scale = ((1.2, 0.6), (1.5, 0.4), (2.0, 0.25))[severity - 1]
    return x.clamp(0, 1).pow(gamma) * scale


def list_corruptions() -> list[str]:
    return CORRUPTIONS.ordered()  # registration order: the order of plots and tables


def corrupt(images: torch.Tensor, name: str, severity: int, image_ids, seed: int = 0) -> torch.Tensor:
    """Apply corruption `name` at `severity` (1-3) to images in [0, 1]; one seeded generator per image."""
    fn = CORRUPTIONS.get(name)
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    gens = [_generator(seed, name, severity, i) for i in image_ids]
    return fn(images, severity, gens)
