"""`results.json` (Contract 4) field types: what the leaderboard, figures and app read from a result.

The format id and required keys are checked by `segcompare.results.check_results`, which calls this.
Only the fields readers use are typed; extra keys are kept as they are.
"""

from __future__ import annotations

from .base import FormatError, is_number, need, need_dict, need_number, need_str, show

NUMBERS = ("miou", "pixel_accuracy", "mean_accuracy", "boundary_iou", "ece", "size_mb", "params", "num_images")
PER_CLASS = ("per_class_iou", "per_class_precision", "per_class_recall", "per_class_f1",
             "per_class_boundary_iou")
MAPPINGS = ("per_image", "latency_ms", "roc", "pr", "reliability", "robustness_confusion", "timing")


def _number_or_none(v) -> bool:
    return v is None or is_number(v)


def check_results_fields(results: dict, source: str) -> dict:
    need_str(results, "model", source, max_len=200)
    for key in ("checkpoint", "dataset", "split"):
        need_str(results, key, source, optional=True, max_len=1000)
    classes = results.get("classes")
    need(isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes), source,
         "classes", "a non-empty list of class names", classes)
    k = len(classes)
    cm = results.get("confusion_matrix")
    need(isinstance(cm, list) and len(cm) == k and all(
        isinstance(row, list) and len(row) == k and all(is_number(v) and v >= 0 for v in row) for row in cm),
        source, "confusion_matrix", f"{k}x{k} counts (one row per class)", cm)
    for key in NUMBERS:
        need_number(results, key, source, lo=0)
    for key in PER_CLASS:
        v = results.get(key)
        need(v is None or (isinstance(v, list) and len(v) == k and all(map(_number_or_none, v))), source, key,
             f"{k} numbers (one per class)", v)
    for key in MAPPINGS:
        need_dict(results, key, source)
    names = (results.get("per_image") or {}).get("names")
    need(names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names)), source,
         "per_image.names", "a list of image names", names)
    rob = results.get("robustness")
    if rob is not None:
        ok = isinstance(rob, dict) and all(isinstance(sev, dict) and all(map(_number_or_none, sev.values()))
                                           for sev in rob.values())
        if not ok:
            raise FormatError(f"{source}: robustness must map corruption -> {{severity: mIoU}}, got {show(rob)}")
    return results


def read_results_file(path) -> dict:
    """One results.json (a file, or a folder holding one), format and fields checked."""
    from pathlib import Path

    from ..errors import UserError
    from ..results import check_results
    from .base import read_json

    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise UserError(f"no results file {path}; run `segcompare evaluate --out {path}` first")
    return check_results(read_json(path, "results file"), str(path))
