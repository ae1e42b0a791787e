"""The evidence behind the verdict, from the stored per-image results: which test images to look at.

`disagreement_images` lists the test images where the models' per-image scores differ most,
`winner_loses_images` those where the overall winner (best mIoU) is beaten by another model, and
`cell_images` those with the most pixels in one cell of a model's confusion matrix (true class -> predicted
class). Everything is read from results.json's `per_image` (names, miou, confusion); no model runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import UserError
from .figures import model_labels, typed
from .formats.results import Results, rank_key

# Shown beside any per-image score: why one picture's score can differ from the leaderboard's.
IMAGE_SCORE_NOTE = ("Image mIoU is the score on that one picture; the leaderboard's mIoU pools the pixels of every "
                    "test image, so a single picture can score well above or below it.")


@dataclass
class ImageEvidence:
    """One test image to show: `name` is its per_image name (the sample the app can open)."""
    name: str
    caption: str
    scores: dict[str, float | None] = field(default_factory=dict)  # model label -> that image's mIoU (0-1)
    pixels: int | None = None  # cell_images: pixels in the confusion cell
    share: float | None = None  # cell_images: those pixels over the image's pixels of the true class


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.0f}%"


def _scores(results: list[Results]) -> tuple[list[str], list[str], np.ndarray]:
    """(labels, image names, per-image mIoU [models, images]) on the images every result has, in the first
    result's order; NaN where an image's mIoU is undefined."""
    labels = model_labels(results)
    common = set.intersection(*(set(r.image_names) for r in results))
    names = [n for n in results[0].image_names if n in common]
    rows = []
    for r, lab in zip(results, labels):
        vals = r.image_miou
        if vals is None:
            raise UserError(f"{lab} has no per-image scores; re-run `segcompare evaluate`")
        pos = {n: i for i, n in enumerate(r.image_names)}
        rows.append([np.nan if vals[pos[n]] is None else float(vals[pos[n]]) for n in names])
    return labels, names, np.asarray(rows, dtype=np.float64).reshape(len(results), len(names))


def _as_dict(labels: list[str], column: np.ndarray) -> dict[str, float | None]:
    return {lab: (float(v) if np.isfinite(v) else None) for lab, v in zip(labels, column)}


def _top(values: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest finite positive values, largest first (ties: earlier image first)."""
    idx = [i for i in np.argsort(-values, kind="stable") if np.isfinite(values[i]) and values[i] > 0]
    return idx[:k]


def disagreement_images(results: list[Results | dict], k: int = 8) -> list[ImageEvidence]:
    """The test images where the best and the worst model's image mIoU are furthest apart."""
    if len(results) < 2:
        return []
    results = typed(results)
    labels, names, s = _scores(results)
    known = np.isfinite(s)
    hi = np.where(known, s, -np.inf).max(0) if s.size else np.zeros(0)
    lo = np.where(known, s, np.inf).min(0) if s.size else np.zeros(0)
    spread = np.where(known.sum(0) >= 2, hi - lo, np.nan)
    out = []
    for i in _top(spread, k):
        col = s[:, i]
        best, worst = int(np.nanargmax(col)), int(np.nanargmin(col))
        out.append(ImageEvidence(names[i], f"{names[i]}: {labels[best]} {_pct(col[best])} vs {labels[worst]} "
                                 f"{_pct(col[worst])} (image mIoU)", _as_dict(labels, col)))
    return out


def winner_loses_images(results: list[Results | dict], k: int = 8) -> list[ImageEvidence]:
    """The test images where the overall winner is not the best model, by how far it is beaten."""
    if len(results) < 2:
        return []
    results = typed(results)
    labels, names, s = _scores(results)
    w = min(range(len(results)), key=lambda i: rank_key(results[i]))  # the winner: the leaderboard's first row
    others = np.delete(s, w, axis=0)
    best_other = np.where(np.isfinite(others), others, -np.inf).max(0)
    margin = np.where(np.isfinite(s[w]) & np.isfinite(best_other), best_other - s[w], np.nan)
    out = []
    for i in _top(margin, k):
        col = s[:, i]
        rival = int(np.nanargmax(np.where(np.arange(len(col)) == w, np.nan, col)))
        out.append(ImageEvidence(names[i], f"{names[i]}: {labels[rival]} {_pct(col[rival])} beats "
                                 f"{labels[w]} {_pct(col[w])} (image mIoU)", _as_dict(labels, col)))
    return out


def cell_images(result: Results | dict, true_class: int, pred_class: int, k: int = 8) -> list[ImageEvidence]:
    """The test images with the most pixels of class `true_class` labelled `pred_class` by this model."""
    result = Results.of(result)
    classes = [str(c) for c in result.classes]
    for what, c in (("true class", true_class), ("predicted class", pred_class)):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < len(classes):
            raise UserError(f"{what} {c!r} is not a class index; valid: 0-{len(classes) - 1} "
                            f"({', '.join(classes)})")
    if not result.image_confusion:
        raise UserError(f"{model_labels([result])[0]} has no per-image confusion matrices; "
                        "re-run `segcompare evaluate`")
    cms = np.asarray(result.image_confusion, dtype=np.int64)
    pixels = cms[:, true_class, pred_class]
    truth = cms[:, true_class, :].sum(1)
    names = result.image_names
    t, p = classes[true_class], classes[pred_class]
    what = f"{t} pixels labelled correctly" if true_class == pred_class else f"{t} pixels labelled {p}"
    out = []
    for i in _top(pixels.astype(np.float64), k):
        share = float(pixels[i] / truth[i])
        out.append(ImageEvidence(names[i], f"{names[i]}: {int(pixels[i])} {what} ({100 * share:.0f}% of its {t} "
                                 "pixels)", pixels=int(pixels[i]), share=share))
    return out
