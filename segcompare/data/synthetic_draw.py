"""Drawing helpers shared by the procedural datasets (`synthetic_pets`, `synthetic_streets`).

Everything is vectorised: shapes are rasterised by PIL's ImageDraw (C code), textures are low-resolution
random grids upsampled by PIL, masks are grown and shrunk with a few numpy shifts. No per-pixel Python.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


class Canvas:
    """An RGB image and its label map drawn together: a shape with `label=None` only touches the image."""

    def __init__(self, image: Image.Image, label: int = 0):
        self.image = image
        self.w, self.h = image.size
        self.label = Image.new("L", image.size, label)
        self._di, self._dl = ImageDraw.Draw(self.image), ImageDraw.Draw(self.label)
        self._blend = ImageDraw.Draw(self.image, "RGBA")  # translucent fills blend onto the RGB image

    def polygon(self, pts, color, label: int | None = None) -> None:
        pts = [(float(x), float(y)) for x, y in pts]
        self._di.polygon(pts, fill=rgb(color))
        if label is not None:
            self._dl.polygon(pts, fill=label)

    def shade(self, pts, factor: float) -> None:
        """Darken the image inside a polygon to `factor` of its brightness (shadows); labels unchanged."""
        pts = [(float(x), float(y)) for x, y in pts]
        self._blend.polygon(pts, fill=(0, 0, 0, round(255 * (1 - factor))))

    def ellipse(self, box, color, label: int | None = None) -> None:
        x0, y0, x1, y1 = (float(v) for v in box)
        box = (x0, y0, max(x0, x1), max(y0, y1))
        self._di.ellipse(box, fill=rgb(color))
        if label is not None:
            self._dl.ellipse(box, fill=label)

    def line(self, pts, width: float, color, label: int | None = None) -> None:
        pts = [(float(x), float(y)) for x, y in pts]
        width = max(1, round(width))
        self._di.line(pts, fill=rgb(color), width=width, joint="curve" if len(pts) > 2 else None)
        if label is not None:
            self._dl.line(pts, fill=label, width=width, joint="curve" if len(pts) > 2 else None)

    def paste(self, texture: Image.Image, mask: Image.Image, at=(0, 0), label: int | None = None) -> None:
        """Copy `texture` (RGB) where `mask` (L, 0/255, same size) is set, top-left corner at `at`."""
        x, y = int(at[0]), int(at[1])
        self.image.paste(texture, (x, y), mask)
        if label is not None:
            self.label.paste(label, (x, y, x + mask.width, y + mask.height), mask)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.image), np.asarray(self.label)


def rgb(color) -> tuple[int, int, int]:
    r, g, b = color.tolist() if isinstance(color, np.ndarray) else color  # plain floats: this runs per shape
    return _byte(r), _byte(g), _byte(b)


def _byte(v: float) -> int:
    return 0 if v <= 0 else 255 if v >= 255 else int(v)


def jitter(rng: np.random.Generator, color, amount: float = 20.0) -> np.ndarray:
    """Vary a colour, mostly in brightness: a grey stays grey-ish (a little hue noise)."""
    shift = rng.normal(0, amount) + rng.normal(0, amount / 3, 3)
    return np.clip(np.asarray(color, np.float32) + shift.astype(np.float32), 0, 255)


def color(rng: np.random.Generator, lo: float = 20, hi: float = 240) -> np.ndarray:
    return rng.uniform(lo, hi, 3).astype(np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell_y: float, cell_x: float | None = None):
    """Zero-mean, roughly unit-variance noise that varies over `cell` pixels (float32 HxW)."""
    cell_x = cell_y if cell_x is None else cell_x
    gh = max(2, math.ceil(h / max(cell_y, 0.5)) + 1)
    gw = max(2, math.ceil(w / max(cell_x, 0.5)) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC))


_GRAIN_TILE = np.random.default_rng(20261121).standard_normal((256, 256), dtype=np.float32)


def grain(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Pixel-level unit noise (float32 HxW): a randomly shifted and flipped window of a fixed tile.

    Drawing fresh normals for every pixel costs more than the rest of a scene; sensor grain does not need
    to be new, only to look random.
    """
    tile = _GRAIN_TILE if rng.random() < 0.5 else _GRAIN_TILE.T
    tile = tile[::rng.choice([-1, 1]), ::rng.choice([-1, 1])]
    rows = (np.arange(h) + rng.integers(256)) % 256
    cols = (np.arange(w) + rng.integers(256)) % 256
    return tile[rows[:, None], cols[None, :]]


def to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def new_mask(w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    m = Image.new("L", (w, h), 0)
    return m, ImageDraw.Draw(m)


def polygon_mask(pts, w: int, h: int) -> tuple[Image.Image, tuple[int, int]] | None:
    """The polygon rasterised on a canvas just big enough (clipped to w x h), and its top-left corner."""
    pts = np.asarray(pts, np.float64)
    x0, y0 = np.maximum(np.floor(pts.min(0)), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(pts.max(0)) + 1, (w, h)).astype(int)
    if x1 <= x0 or y1 <= y0:
        return None
    mask, draw = new_mask(x1 - x0, y1 - y0)
    draw.polygon([(x - x0, y - y0) for x, y in pts], fill=255)
    return mask, (x0, y0)


def ellipse_pts(cx, cy, rx, ry, angle: float = 0.0, n: int = 28) -> np.ndarray:
    """Polygon points of an ellipse rotated by `angle` radians (PIL's ellipse is axis-aligned)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def blob_pts(rng, cx, cy, r, n: int = 14, roughness: float = 0.3) -> np.ndarray:
    """An irregular star-shaped blob (cushions, bushes, puddles)."""
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * np.clip(1 + roughness * rng.standard_normal(n), 0.4, 1.6)
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1)


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation with a (2r+1)^2 square, separable: r shifts per axis."""
    out = mask.copy()
    for d in range(1, r + 1):
        out[d:] |= mask[:-d]
        out[:-d] |= mask[d:]
    rows = out.copy()
    for d in range(1, r + 1):
        out[:, d:] |= rows[:, :-d]
        out[:, :-d] |= rows[:, d:]
    return out


def erode(mask: np.ndarray, r: int) -> np.ndarray:
    return ~dilate(~mask, r)


def finish(image: Image.Image, rng: np.random.Generator, blur: float = 0.6, light: float = 0.2,
           noise: float = 4.0) -> np.ndarray:
    """Camera look: slight blur, uneven lighting, sensor noise. Returns uint8 HxWx3."""
    if blur > 0:
        image = image.filter(ImageFilter.BoxBlur(blur))
    w, h = image.size
    arr = np.asarray(image, np.float32)
    field = 1 + light * smooth_noise(rng, h, w, max(h, w) / 2)
    arr = arr * field[..., None] + (noise * grain(rng, h, w))[..., None]
    return np.clip(arr, 0, 255).astype(np.uint8)
