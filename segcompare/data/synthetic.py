"""Procedural datasets that need no download: `synthetic-pets` and `synthetic-streets` (Contract 3).

They power the offline demo: every image is generated on the fly, at the requested size, from a numpy
Generator seeded with (seed, split, index), so an index always gives the same image and the test split is
the same everywhere. Scenes are drawn by `synthetic_pets` and `synthetic_streets`.
Options: `length=N` (images in the split), `seed=S` (another world; also seeds augmentation).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .base import SegDataset, register_dataset
from .street_things import CLASSES as STREET_CLASSES
from .street_things import PALETTE as STREET_PALETTE
from .synthetic_pets import CLASSES as PET_CLASSES
from .synthetic_pets import PALETTE as PET_PALETTE
from .synthetic_pets import render_pet
from .synthetic_streets import render_street

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}  # each split draws from its own seed stream
DEFAULT_LENGTH = {"train": 1000, "val": 100, "test": 100}
MIN_SIDE = 8


class SyntheticDataset(SegDataset):
    prefix = ""
    default_size: tuple[int, int] = (128, 128)

    def __init__(self, split: str = "train", size=None, augment: bool = False, normalize: bool = True,
                 length=None, seed=0):
        if split not in SPLIT_IDS:
            raise UserError(f"unknown split {split!r}. Valid: {', '.join(SPLIT_IDS)}")
        seed = _int_option("seed", seed, low=0)
        super().__init__(self.prefix, split, size=_check_size(size), augment=augment, normalize=normalize,
                         seed=seed)
        self.length = DEFAULT_LENGTH[split] if length is None else _int_option("length", length, low=1)
        self.render_size = self.size or self.default_size

    def __len__(self) -> int:
        return self.length

    def rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLIT_IDS[self.split], i])

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self.render(self.rng(i), *self.render_size)

    def render(self, rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def name(self, i: int) -> str:
        # The seed is part of the name so that per-image results from different worlds never pair up.
        return f"{self.split}_{i:05d}" if self.seed == 0 else f"{self.split}_s{self.seed}_{i:05d}"


class SyntheticPets(SyntheticDataset):
    """Generated pets with Oxford-IIIT-Pet trimap labels (background, pet, boundary); no files needed.

    Animal silhouettes (body, head, ears, legs, tail; standing, sitting, lying or a close-up face) with fur
    textures on cluttered backgrounds with fur-coloured distractors. Default size 160x160; options:
    length=N (train 1000, val 100, test 100), seed=S.
    """

    prefix, default_size = "synthetic-pets", (160, 160)
    classes, palette = list(PET_CLASSES), [list(c) for c in PET_PALETTE]
    render = staticmethod(render_pet)


class SyntheticStreets(SyntheticDataset):
    """Generated street scenes labelled with the 8 Cityscapes categories; no files needed.

    Categories: void, flat, construction, object, nature, sky, human, vehicle. A perspective street with
    lanes, sidewalks, facades, trees, thin poles and signs, cars and pedestrians that shrink with depth.
    Default size 128x256 (HxW); options: length=N (train 1000, val 100, test 100), seed=S.
    """

    prefix, default_size = "synthetic-streets", (128, 256)
    classes, palette = list(STREET_CLASSES), [list(c) for c in STREET_PALETTE]
    render = staticmethod(render_street)


def _int_option(key: str, value, low: int) -> int:
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"option {key} must be a whole number, got {value!r}") from None
    if number < low:
        raise UserError(f"option {key} must be at least {low}, got {number}")
    return number


def _check_size(size):
    if size is None:
        return None
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise UserError(f"size must be two numbers H W, got {size!r}") from None
    if min(h, w) < MIN_SIDE:
        raise UserError(f"size {h}x{w} is too small for a synthetic dataset: use at least {MIN_SIDE}x{MIN_SIDE}")
    return (h, w)


for _cls in (SyntheticPets, SyntheticStreets):
    register_dataset(_cls.prefix, needs_root=False)(_cls)
