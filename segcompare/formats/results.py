"""`results.json` (Contract 4): its format id, the one check every reader runs, and the typed `Results`.

Only the fields readers use are typed; extra keys are kept as they are (`Results.extra`), so a file
written by a newer segcompare round-trips unchanged. `best_first` is the one leaderboard order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import UserError
from .base import FormatError, TypedFile, is_int, is_number, need, need_dict, need_number, need_str, read_json, show
from .constants import RESULTS_FILE

FORMAT = "segcompare-results/1"
REQUIRED = ("model", "dataset", "split", "classes", "confusion_matrix", "miou", "per_image")
NUMBERS = ("miou", "pixel_accuracy", "mean_accuracy", "boundary_iou", "ece", "size_mb", "params", "num_images",
           "published_miou")
PER_CLASS = ("per_class_iou", "per_class_precision", "per_class_recall", "per_class_f1",
             "per_class_boundary_iou")
MAPPINGS = ("per_image", "latency_ms", "roc", "pr", "reliability", "robustness_confusion", "timing")


def _number_or_none(v) -> bool:
    return v is None or is_number(v)


def check_results(results, source: str = "results") -> dict:
    """Refuse anything that is not a segcompare results dict of a known format (UserError naming it)."""
    if not isinstance(results, dict):
        raise UserError(f"{source} is not a results object ({type(results).__name__}); expected {FORMAT}")
    fmt = results.get("format")
    if fmt != FORMAT:
        raise UserError(f"unknown results format {fmt!r} in {source}; expected {FORMAT}")
    missing = [k for k in REQUIRED if k not in results]
    if missing:
        raise UserError(f"{source} lacks {', '.join(missing)}; re-run `segcompare evaluate`")
    return check_results_fields(results, source)


def check_results_fields(results: dict, source: str) -> dict:
    need_str(results, "model", source, max_len=200)
    for key in ("checkpoint", "dataset", "split", "created"):
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
    size = results.get("input_size")
    need(size is None or (isinstance(size, list) and all(is_int(v) and v > 0 for v in size)), source, "input_size",
         "a list of positive pixel counts", size)
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
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"no results file {path}; run `segcompare evaluate --out {path}` first")
    return check_results(read_json(path, "results file"), str(path))


def rank_key(results: Results | None) -> tuple[float, float]:
    """Leaderboard order: best mIoU first (a missing score, or no results, last), then the faster model."""
    if results is None:  # a checkpoint not evaluated yet
        return (1.0, math.inf)
    return (-(results.miou if results.miou is not None else -1.0), results.latency_p50 or math.inf)


def best_first(results: list[Results]) -> list[Results]:
    return sorted(results, key=rank_key)


def _number(v) -> float | None:
    return float(v) if is_number(v) else None


@dataclass
class Results(TypedFile):
    """A checked results.json: the fields the leaderboard, statistics and model cards read, typed."""

    FORMAT: ClassVar[str] = FORMAT
    CHECK: ClassVar = staticmethod(check_results)
    KEEP: ClassVar[tuple[str, ...]] = REQUIRED

    model: str
    dataset: str
    split: str
    classes: list[str]
    confusion_matrix: list[list[float]]
    miou: float | None
    per_image: dict
    checkpoint: str | None = None
    label: str | None = None
    pixel_accuracy: float | None = None
    mean_accuracy: float | None = None
    boundary_iou: float | None = None
    num_images: int | None = None
    per_class_iou: list[float | None] | None = None
    per_class_precision: list[float | None] | None = None
    per_class_recall: list[float | None] | None = None
    per_class_f1: list[float | None] | None = None
    params: int | None = None
    size_mb: float | None = None
    published_miou: float | None = None  # the score of the experiment a run reproduces (a fraction, like miou)
    created: str | None = None
    input_size: list[int] | None = None
    latency_ms: dict = field(default_factory=dict)
    robustness: dict = field(default_factory=dict)
    roc: dict = field(default_factory=dict)  # class -> one-vs-rest curve {"fpr", "tpr", "auc"}
    pr: dict = field(default_factory=dict)  # class -> {"recall", "precision", "ap"}
    remapped_from: dict | None = None
    provenance: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # every other key, kept for the round trip
    written: tuple = field(default=(), repr=False, compare=False)  # keys the file had (null ones stay null)

    @classmethod
    def read(cls, path) -> Results:
        return cls.from_dict(read_results_file(path), str(path))

    def write(self, path) -> Path:
        from ..files import atomic_write_json

        path = Path(path)
        check_results(self.to_dict(), str(path))
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def of(cls, results) -> Results | None:
        """`results` typed: a Results as it is, a dict checked and converted, None stays None."""
        return results if results is None or isinstance(results, Results) else cls.from_dict(results)

    @property
    def remapped_source(self) -> str | None:
        """The dataset this result's labels were remapped from (None: scored on its own labels)."""
        return self.remapped_from.get("dataset") if isinstance(self.remapped_from, dict) else None

    @property
    def name(self) -> str:
        """The label given for this comparison, else the model's name."""
        return self.label or self.model

    def labelled(self, label: str) -> Results:
        """This result under another display label (the original is left as it is)."""
        return replace(self, label=label)

    @property
    def latency_p50(self) -> float | None:
        """Median latency (ms) on the device the file names first (None: not measured)."""
        p50 = self.latency_ms.get("p50")
        return p50 if is_number(p50) else None

    @property
    def latency_device(self) -> str | None:
        return self.latency_ms.get("device")

    def device_latencies(self) -> dict[str, float]:
        """Median (p50) latency in ms per device measured: results store {"device", "p50", ...} and may add
        one {"p50", ...} entry per further device (keyed by the device's name)."""
        out = {}
        if self.latency_p50 is not None:
            out[str(self.latency_device or "cpu")] = float(self.latency_p50)
        for dev, entry in self.latency_ms.items():
            if isinstance(entry, dict) and _number(entry.get("p50")) is not None:
                out[str(entry.get("device") or dev)] = float(entry["p50"])
            elif isinstance(entry, dict):  # a nested {device: {"p50": ...}} mapping ("by_device")
                out.update({str(d): float(e["p50"]) for d, e in entry.items()
                            if isinstance(e, dict) and _number(e.get("p50")) is not None})
        return out

    @property
    def mean_robustness(self) -> float | None:
        """mIoU averaged over every corruption and severity measured (the leaderboard's "Robust mIoU")."""
        vals = [v for sev in self.robustness.values() for v in sev.values() if v is not None]
        return float(np.mean(vals)) if vals else None

    @property
    def image_names(self) -> list[str]:
        return list(self.per_image.get("names") or [])

    @property
    def image_confusion(self) -> list | None:
        """One [K, K] confusion matrix per test image (None: not stored)."""
        return self.per_image.get("confusion") or None

    @property
    def image_miou(self) -> list[float | None] | None:
        return self.per_image.get("miou")
