"""Pictures of predictions: palettes, colour masks, overlays, correctness, disagreement and confidence maps.

Everything is numpy in, RGB uint8 out, so the same pictures serve the app, the report and notebooks.
One palette per task gives every model the same colour for the same class.
"""

from __future__ import annotations

import colorsys
import html

import numpy as np

from .formats.constants import IGNORE_INDEX

IGNORE_COLOR = (128, 128, 128)
# Okabe-Ito blue vs vermillion, not green vs red: red/green fall to CIEDE2000 9 under deuteranopia, these
# keep >= 50 under deuteranopia and protanopia (tests/test_colour_vision.py measures it)
RIGHT, WRONG = (0, 114, 178), (213, 94, 0)
# viridis anchors (every 1/8): a perceptually uniform, colour-blind-safe scale for confidence
VIRIDIS = np.array([[68, 1, 84], [70, 50, 127], [54, 92, 141], [39, 127, 142], [31, 161, 135],
                    [74, 193, 109], [160, 218, 57], [208, 226, 33], [253, 231, 37]], np.float32)
# disagreement: 1 distinct prediction = all agree (near white), more = darker and warmer. Tuned so every
# pair of levels stays >= 25 apart (CIEDE2000) for normal vision, deuteranopia and protanopia.
AGREEMENT = np.array([[250, 250, 250], [255, 255, 0], [195, 130, 10], [160, 40, 60], [70, 10, 90]], np.uint8)
# Okabe & Ito (2008), made to stay distinct for colour-blind viewers (black first: class 0 is usually
# background), then colours picked greedily to be far (CIEDE2000) from all before them and from the
# ignore grey under normal vision, deuteranopia and protanopia
CLASS_COLORS = [(0, 0, 0), (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
                (213, 94, 0), (204, 121, 167), (119, 34, 0), (153, 238, 204), (119, 34, 85), (17, 0, 204),
                (136, 238, 255), (0, 102, 68), (0, 204, 136), (51, 136, 255), (187, 17, 68), (102, 255, 170),
                (170, 51, 136), (187, 51, 0)]
# a mid grey border: visible around light swatches on a white page and around dark ones in dark mode
SWATCH_BORDER = "#888888"


def default_palette(num_classes: int) -> np.ndarray:
    """Distinct colours: colour-blind-safe `CLASS_COLORS` first, then golden-ratio hues (stable for any K)."""
    out = list(CLASS_COLORS[:num_classes])
    for i in range(len(out), num_classes):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1, 0.65, 0.95)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return np.array(out, np.uint8).reshape(-1, 3)


def get_palette(palette, num_classes: int) -> np.ndarray:
    """The config's palette as uint8 [K, 3]; missing or short palettes are completed with defaults."""
    out = default_palette(num_classes)
    if palette is not None and len(palette):
        given = np.asarray(palette, dtype=np.int64).reshape(-1, 3)[:num_classes]
        out[: len(given)] = np.clip(given, 0, 255)
    return out


def _lut(palette: np.ndarray, ignore_color=IGNORE_COLOR) -> np.ndarray:
    """A 256-entry lookup table: class k -> palette[k], everything else (ignore, out of range) -> grey."""
    lut = np.tile(np.asarray(ignore_color, np.uint8), (256, 1))
    k = min(len(palette), 255)
    lut[:k] = palette[:k]
    return lut


def colorize(mask: np.ndarray, palette, ignore_color=IGNORE_COLOR) -> np.ndarray:
    """Label mask uint8 [H, W] -> RGB uint8 [H, W, 3]."""
    palette = np.asarray(palette, np.uint8).reshape(-1, 3)
    return np.take(_lut(palette, ignore_color), np.asarray(mask, np.uint8), axis=0)  # take: ~3x faster than [ ]


def _weight(alpha: float) -> int:
    """Opacity as an integer weight out of 256: blending in uint16 is ~3x faster than in float32, and
    differs from exact rounding by at most one level."""
    return round(float(np.clip(alpha, 0.0, 1.0)) * 256)


def _preweight(colors: np.ndarray, a: int) -> np.ndarray:
    """colors * a + 128 in uint16: the colour side of `_mix`, with the rounding term."""
    return colors.astype(np.uint16) * a + 128


def _mix(image: np.ndarray, weighted_colors: np.ndarray, a: int) -> np.ndarray:
    """(image * (256 - a) + weighted_colors) / 256, weighted_colors from `_preweight`."""
    out = image.astype(np.uint16)
    out *= 256 - a
    out += weighted_colors
    out >>= 8
    return out.astype(np.uint8)


def blend(image: np.ndarray, colors: np.ndarray, alpha: float, where: np.ndarray | None = None) -> np.ndarray:
    """(1 - alpha) * image + alpha * colors, only where `where` is true (everywhere by default)."""
    a = _weight(alpha)
    out = _mix(image, _preweight(colors, a), a)
    if where is not None:
        out = np.where(where[..., None], out, image)
    return out


def grayscale(image: np.ndarray, lighten: float = 0.25) -> np.ndarray:
    """A lightened grey copy of an RGB image: a quiet background under correctness or confidence colours."""
    g = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    g = g * (1 - lighten) + 255 * lighten
    return np.repeat(np.rint(g).astype(np.uint8)[..., None], 3, axis=2)


def overlay(image: np.ndarray, mask: np.ndarray, palette, alpha: float = 0.5,
            ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Class colours over the image at opacity `alpha`; ignored pixels show the image untouched."""
    a, mask = _weight(alpha), np.asarray(mask, np.uint8)
    lut = _preweight(_lut(np.asarray(palette, np.uint8).reshape(-1, 3)), a)  # 256 entries, not every pixel
    out = _mix(image, np.take(lut, mask, axis=0), a)
    if 0 <= ignore_index < 256:
        ignored = mask == ignore_index
        if ignored.any():
            out[ignored] = image[ignored]
    return out


def correctness_map(pred: np.ndarray, gt: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """RIGHT (blue) where the prediction matches the ground truth, WRONG (vermillion) where not, grey if ignored."""
    code = (np.asarray(pred) == gt).view(np.uint8)  # 0 wrong, 1 right, 2 ignored: one lookup per pixel
    code = np.where(np.asarray(gt) == ignore_index, np.uint8(2), code)
    return np.take(np.array([WRONG, RIGHT, IGNORE_COLOR], np.uint8), code, axis=0)


def distinct_predictions(preds: list[np.ndarray]) -> np.ndarray:
    """Number of distinct labels the models predict at each pixel (1 = all agree), uint8 [H, W]."""
    preds = [np.asarray(p) for p in preds]
    # a prediction is new where it equals none before it: m(m-1)/2 comparisons beat a sort along the models
    count = np.ones(preds[0].shape, np.uint8)
    for i in range(1, len(preds)):
        seen = preds[i] == preds[0]
        for j in range(1, i):
            seen |= preds[i] == preds[j]
        count += ~seen
    return count


def disagreement_map(preds: list[np.ndarray]) -> np.ndarray:
    """RGB [H, W, 3]: light grey where all models agree, warmer with more distinct predictions."""
    n = distinct_predictions(preds)
    return np.take(AGREEMENT, np.minimum(n, len(AGREEMENT)) - 1, axis=0)


def confidence_map(conf: np.ndarray) -> np.ndarray:
    """Max-softmax confidence [H, W] in [0, 1] -> viridis RGB (dark purple = unsure, yellow = sure)."""
    conf = np.asarray(conf)
    if conf.dtype == np.float16 and conf.size > 65536:  # the app's: every float16 value coloured once, looked up
        with np.errstate(invalid="ignore"):  # the table holds NaN and inf too
            table = confidence_map(np.arange(65536, dtype=np.uint16).view(np.float16))
        return np.take(table, conf.view(np.uint16), axis=0)
    x = np.clip(np.nan_to_num(np.asarray(conf, np.float32)), 0, 1) * (len(VIRIDIS) - 1)
    lo = np.floor(x).astype(np.int64)
    hi = np.minimum(lo + 1, len(VIRIDIS) - 1)
    t = (x - lo)[..., None]
    return np.rint(VIRIDIS[lo] * (1 - t) + VIRIDIS[hi] * t).astype(np.uint8)


def readable(name: str) -> str:
    """`traffic_sign` -> `Traffic sign`: class names as a person would write them."""
    text = str(name).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


def _swatches(items: list[tuple[str, tuple]], title: str) -> str:
    cells = "".join(
        f'<span class="sc-legend-item"><span class="sc-swatch" style="background:{_hex(c)};'
        f'border:1px solid {SWATCH_BORDER}"></span>'
        f"{html.escape(label)}</span>" for label, c in items)
    return (f'<div class="sc-legend"><span class="sc-legend-title">{html.escape(title)}</span>'
            f"{cells}</div>")


def legend_html(classes: list[str], palette, present=None, title: str = "Classes") -> str:
    """An HTML legend with one colour swatch per class (only `present` class indices when given)."""
    palette = get_palette(palette, len(classes))
    keep = range(len(classes)) if present is None else sorted({int(k) for k in present if k < len(classes)})
    return _swatches([(readable(classes[k]), palette[k]) for k in keep], title)


def correctness_legend_html() -> str:
    return _swatches([("Right", RIGHT), ("Wrong", WRONG), ("Ignored (not labelled)", IGNORE_COLOR)],
                     "Correctness")


def disagreement_legend_html(num_models: int) -> str:
    n = max(1, min(num_models, len(AGREEMENT)))
    labels = ["All models agree"] + [f"{k} different answers" for k in range(2, n + 1)]
    return _swatches(list(zip(labels, AGREEMENT[:n])), "Disagreement")


def confidence_legend_html() -> str:
    stops = ", ".join(_hex(c) for c in VIRIDIS)
    return ('<div class="sc-legend"><span class="sc-legend-title">Confidence</span>'
            '<span class="sc-legend-item">unsure <span class="sc-ramp" '
            f'style="background:linear-gradient(90deg, {stops});border:1px solid {SWATCH_BORDER}"></span> sure'
            '</span></div>')
