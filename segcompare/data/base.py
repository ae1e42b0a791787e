"""The dataset base class every dataset family subclasses (Contract 3).

A subclass implements `__len__`, `load(i) -> (rgb uint8[H,W,3], mask uint8|int[H,W])` and `name(i)`;
the base class applies the joint transforms and returns `(image float[3,H,W], mask int64[H,W])`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..formats.constants import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD
from . import transforms as T


class SegDataset(torch.utils.data.Dataset):
    classes: list[str] = []
    palette: list[list[int]] = []
    ignore_index: int = IGNORE_INDEX
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __init__(self, spec: str, split: str, size=None, augment: bool = False, normalize: bool = True,
                 seed: int = 0):
        self.spec, self.split = spec, split
        self.size = tuple(size) if size is not None else None
        self.augment, self.normalize, self.seed = augment, normalize, seed
        self.epoch = 0  # set by the training loop so augmentations differ per epoch but stay reproducible

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def name(self, i: int) -> str:
        return f"{self.split}_{i:05d}"

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        image, mask = self.load(i)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.augment else None
        image, mask = T.prepare(image, mask, self.size, augment=self.augment, rng=rng,
                                ignore_index=self.ignore_index)
        img = T.to_tensor(image)
        if self.normalize:
            img = T.normalize(img, self.mean, self.std)
        return img, torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64))

    def read(self, i: int):
        """Load item i without transforms; file-backed datasets check the files here."""
        return self.load(i)

    def validate(self, progress=None) -> dict:
        """Read every item of the split -> {"spec", "split", "images", "errors": [one line each]}."""
        from ..errors import UserError

        errors = []
        for i in range(len(self)):
            try:
                self.read(i)
            except UserError as e:
                errors.append(str(e))
            if progress:
                progress(i)
        return {"spec": self.spec, "split": self.split, "images": len(self), "errors": errors}

    def info(self) -> dict:
        """What a checkpoint's config.json records about the data."""
        return {"dataset": self.spec, "classes": list(self.classes), "palette": [list(p) for p in self.palette],
                "ignore_index": self.ignore_index, "mean": list(self.mean), "std": list(self.std)}
