"""Is model A really better than model B on this test set? Paired bootstrap over images.

Both models' results store one confusion matrix per test image. A bootstrap replicate draws the test
images with replacement (the same draw for both models: paired) and recomputes the dataset-level mIoU
from the summed matrices, so the interval reflects how much the ranking depends on which images happened
to be in the test set. Vectorised: a (replicates x images) count matrix times the stacked per-image
matrices. Differences are in mIoU units (0-1); verdicts speak in mIoU points (x100).
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import UserError
from .results import Results, best_first, unique_labels

CHUNK = 256  # replicates per matrix product: bounds memory for large test sets
# Below this many test images a bootstrap interval is itself unreliable (few distinct resamples, percentile
# intervals too narrow): verdicts then carry a caution instead of reading as settled.
MIN_IMAGES = 30


def _where(res: Results) -> str:
    return f"{res.name} ({res.checkpoint or res.dataset})"


def check_comparable(results: list[Results | dict], paired: bool = False) -> None:
    """Refuse results that cannot share one table: another format, dataset, split, class list, scoring
    (native vs remapped labels) or set of test images. `paired` (the bootstrap, which matches images one to
    one) is stricter: both must list the same distinct images and store their per-image matrices. Dicts are
    checked and typed first (an unknown format is refused by name)."""
    results = [Results.of(r) for r in results]
    first = results[0] if results else None
    for i, other in enumerate(results[1:], 1):
        problem = _difference(first, other, paired)
        if problem:
            names = _names(results, paired)
            a, b = names[0], names[i]
            raise UserError(f"cannot compare {a} and {b}{'' if paired else ' in one table'}: {problem}")
    if paired:
        for res in results:
            if not res.image_confusion:
                raise UserError(f"{_where(res)} has no per-image confusion matrices; re-run `segcompare evaluate`")


def _difference(a: Results, b: Results, paired: bool) -> str | None:
    """Why two results cannot be ranked together, or None."""
    for key, what in (("dataset", "datasets"), ("split", "splits"), ("classes", "class lists")):
        if getattr(a, key) != getattr(b, key):
            return f"different {what} ({getattr(a, key)!r} vs {getattr(b, key)!r}); evaluate both on the same data"
    sa, sb = (scored_on(r) for r in (a, b))
    if sa != sb:
        return (f"scored on {sa} vs {sb}, so other pixels count (a remap has no void class); evaluate both "
                "natively or remap both")
    na, nb = a.image_names, b.image_names
    repeated = paired and len(set(na)) != len(na)  # the bootstrap pairs images by name: names must be unique
    if repeated or ((paired or (na and nb)) and sorted(na) != sorted(nb)):
        only = sorted(set(na) ^ set(nb))
        return (f"different test images: they were evaluated on different images ({len(na)} vs {len(nb)}; e.g. "
                f"{only[:3]}); evaluate both on the whole split, or with the same --max-images")
    return None


def _names(results: list[Results], paired: bool) -> list[str]:
    """Labels for a refusal: the bootstrap's own labels, or the leaderboard's display names."""
    if paired:
        return [r.name for r in results]
    from .figures import model_labels  # display names (only on this error path: figures imports plotly)

    return model_labels(results)


def scored_on(result: Results) -> str:
    """What a result's pixels were scored against: its own dataset, or the one it was remapped from."""
    remapped = isinstance(result.remapped_from, dict)
    return f"remapped from {result.remapped_source}" if remapped else "native labels"


def _stack(res: Results, order: list[str]) -> np.ndarray:
    """Per-image matrices [N, K*K] in the image order `order`."""
    pos = {n: i for i, n in enumerate(res.image_names)}
    cms = np.asarray(res.image_confusion, dtype=np.float64)
    return cms[[pos[n] for n in order]].reshape(len(order), -1)


def _iou(cm_flat: np.ndarray, k: int) -> np.ndarray:
    """Per-class IoU of flat matrices [..., K*K] (NaN where a class is absent from truth and prediction)."""
    cm = cm_flat.reshape(*cm_flat.shape[:-1], k, k)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    union = cm.sum(-1) + cm.sum(-2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def _nanmean(x: np.ndarray, axis=-1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _image_miou(res: Results, order: list[str]) -> np.ndarray:
    pos = {n: i for i, n in enumerate(res.image_names)}
    vals = res.image_miou
    if vals is None:
        return _nanmean(_iou(_stack(res, order), len(res.classes)))
    return np.array([np.nan if vals[pos[n]] is None else vals[pos[n]] for n in order], dtype=np.float64)


def _percentiles(x: np.ndarray, axis=0) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(x, [2.5, 97.5], axis=axis)
    return lo, hi


def _none(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        return None if not np.isfinite(x) else float(x)
    return [None if not np.isfinite(v) else float(v) for v in x]


def paired_bootstrap(res_a: Results | dict, res_b: Results | dict, n_boot: int = 2000, seed: int = 0) -> dict:
    """mIoU difference A - B with a 95% percentile interval, per-class differences, image win rate."""
    res_a, res_b = Results.of(res_a), Results.of(res_b)
    check_comparable([res_a, res_b], paired=True)
    order = res_a.image_names
    k = len(res_a.classes)
    ca, cb = _stack(res_a, order), _stack(res_b, order)
    n = len(order)
    rng = np.random.default_rng(seed)
    diffs, class_diffs = np.empty(n_boot), np.empty((n_boot, k))
    for start in range(0, n_boot, CHUNK):
        m = min(CHUNK, n_boot - start)
        draws = rng.integers(0, n, size=(m, n))
        # counts[r, i] = how often image i is drawn in replicate r
        counts = np.zeros((m, n))
        np.add.at(counts, (np.repeat(np.arange(m), n), draws.ravel()), 1)
        ia, ib = _iou(counts @ ca, k), _iou(counts @ cb, k)
        diffs[start:start + m] = _nanmean(ia) - _nanmean(ib)
        class_diffs[start:start + m] = ia - ib
    iou_a, iou_b = _iou(ca.sum(0), k), _iou(cb.sum(0), k)
    diff = float(_nanmean(iou_a) - _nanmean(iou_b))
    lo, hi = _percentiles(diffs)
    clo, chi = _percentiles(class_diffs)
    ma, mb = _image_miou(res_a, order), _image_miou(res_b, order)
    both = np.isfinite(ma) & np.isfinite(mb)
    win = float((ma[both] > mb[both]).mean()) if both.any() else None
    loss = float((ma[both] < mb[both]).mean()) if both.any() else None
    out = {"a": res_a.name, "b": res_b.name, "diff": diff, "ci_low": float(lo), "ci_high": float(hi),
           "win_rate": win, "loss_rate": loss, "significant": bool(lo > 0 or hi < 0),
           "n_images": n, "n_boot": n_boot, "seed": seed, "classes": list(res_a.classes),
           "per_class_diff": _none(iou_a - iou_b), "per_class_ci_low": _none(clo),
           "per_class_ci_high": _none(chi)}
    out["verdict"] = verdict(out["a"], out["b"], diff, out["ci_low"], out["ci_high"], win, loss, n_images=n)
    out["small_sample"] = n < MIN_IMAGES
    return out


def verdict(a: str, b: str, diff: float, ci_low: float, ci_high: float, win_rate: float | None = None,
            loss_rate: float | None = None, n_images: int | None = None) -> str:
    """One plain-language sentence. `diff` and the interval are A - B in mIoU units (0-1), spoken in
    points; `win_rate` / `loss_rate` are the shares of images where A's image mIoU beats / loses to B's;
    with fewer than MIN_IMAGES test images the sentence says it is not to be trusted."""
    text = _verdict(a, b, diff, ci_low, ci_high, win_rate, loss_rate)
    if n_images is not None and n_images < MIN_IMAGES:
        text += (f" — caution: only {n_images} test images (fewer than {MIN_IMAGES}), too few for the interval "
                 "to be trusted; evaluate on more images")
    return text


def _verdict(a, b, diff, ci_low, ci_high, win_rate, loss_rate) -> str:
    pts = lambda v: f"{100 * v:.1f}"
    if ci_low > 0:
        better, worse, d, lo, hi, share = a, b, diff, ci_low, ci_high, win_rate
    elif ci_high < 0:
        better, worse, d, lo, hi, share = b, a, -diff, -ci_high, -ci_low, loss_rate
    else:
        return f"no clear difference between {a} and {b} (95% CI {pts(ci_low)} to {pts(ci_high)})"
    text = f"{better} is better than {worse} by {pts(d)} mIoU points (95% CI {pts(lo)} to {pts(hi)})"
    if share is not None:
        text += f", better on {100 * share:.0f}% of test images"
    return text


def _unique_labels(results: list[Results]) -> list[Results]:
    """Give two results of the same model name distinct labels (the checkpoint folder's name)."""
    labels = unique_labels([r.name for r in results], [r.checkpoint for r in results])
    return [r if lab == r.name else r.labelled(lab) for r, lab in zip(results, labels)]


def compare_all(results: list[Results | dict], n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """Every pair, each oriented best-first (A = higher mIoU); the best model's comparisons come first."""
    results = _unique_labels([Results.of(r) for r in results])
    check_comparable(results, paired=True)
    ranked = best_first(results)
    return [paired_bootstrap(ranked[i], ranked[j], n_boot=n_boot, seed=seed)
            for i in range(len(ranked)) for j in range(i + 1, len(ranked))]
