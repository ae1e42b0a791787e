"""Dataset registry (Contract 3): `get_dataset("prefix:ROOT" | "prefix", split, ...)`.

Each dataset family registers itself under its spec prefix with `@register_dataset(prefix)` (data.base);
the builder is called as `builder(root, split=..., size=..., augment=..., normalize=..., **options)`.
Label taxonomies (coarser class sets, e.g. Cityscapes' 19 classes -> 8 categories) are in `TAXONOMIES`.
"""

from __future__ import annotations

import importlib

from ..errors import UserError
from ..registry import unknown
from .base import DATASETS, IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, SegDataset, register_dataset
from .taxonomies import TAXONOMIES, Taxonomy

SPLITS = ("train", "val", "test")
# Importing a family's module registers it.
_FAMILIES = ["synthetic", "folder", "oxford_pet", "cityscapes", "bdd100k"]


def _load_families() -> None:
    for mod in _FAMILIES:
        importlib.import_module(f".{mod}", __name__)


def parse_spec(spec: str) -> tuple[str, str | None]:
    prefix, _, root = str(spec).partition(":")
    return prefix, (root or None)


def list_datasets() -> list[str]:
    return DATASETS.names()


def describe_dataset(prefix: str) -> str:
    builder = DATASETS.get(prefix)
    return (builder.__doc__ or "").strip()


def get_dataset(spec: str, split: str = "train", size=None, augment: bool = False, normalize: bool = True,
                **options) -> SegDataset:
    if split not in SPLITS:
        raise UserError(unknown("split", split, SPLITS))
    prefix, root = parse_spec(spec)
    builder = DATASETS.get(prefix)
    return builder(root, split=split, size=size, augment=augment, normalize=normalize, **options)


_load_families()

__all__ = ["DATASETS", "SPLITS", "SegDataset", "get_dataset", "list_datasets", "describe_dataset",
           "parse_spec", "register_dataset", "TAXONOMIES", "Taxonomy", "IGNORE_INDEX", "IMAGENET_MEAN",
           "IMAGENET_STD"]
