"""Label taxonomies: registered maps from one dataset's classes to coarser ones (`evaluate --remap NAME`).

A taxonomy maps class i of its `source` dataset to `classes[mapping[i]]`, so results on the fine label set
can be scored on the coarse one (and compared with models trained on its `target` dataset).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry
from .cityscapes import CATEGORIES, LABELS, TRAIN_CLASSES


@dataclass(frozen=True)
class Taxonomy:
    mapping: list[int]  # new class index per source class
    classes: list[str]  # the new class names
    source: str  # dataset prefix whose classes are mapped
    target: str  # dataset prefix that has the new classes


TAXONOMIES: Registry[Taxonomy] = Registry("taxonomy")
# Cityscapes' 19 train ids -> its 8 categories (cityscapesScripts `labels.py`, `categoryId`).
TAXONOMIES.add("cityscapes19-to-8", Taxonomy(
    [next(cat for _, train, cat in LABELS.values() if train == t) for t in range(len(TRAIN_CLASSES))],
    list(CATEGORIES), source="cityscapes", target="cityscapes-8"))
