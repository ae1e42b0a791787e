"""The dataset base class every dataset family subclasses (Contract 3), and the one way to register a family.

A subclass implements `__len__`, `load(i) -> (rgb uint8[H,W,3], mask uint8|int[H,W])` and `name(i)`;
the base class applies the joint transforms and returns `(image float[3,H,W], mask int64[H,W])`.
`@register_dataset(prefix)` puts a family in `DATASETS` under its spec prefix (`prefix:ROOT`, or `prefix`
alone for generated data).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from ..errors import UserError
from ..formats.constants import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD
from ..registry import Registry
from . import transforms as T

DATASETS: Registry = Registry("dataset")
_BUILD_ARGS = ("self", "root", "split", "size", "augment", "normalize")


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
        # The recipe (a `transforms.Augment`) or None; a bool or a recipe name is accepted (see augment_policy).
        self.augment, self.normalize, self.seed = T.augment_policy(augment), normalize, seed
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


def register_dataset(prefix: str, needs_root: bool = True):
    """Class decorator: register `cls` in DATASETS under `prefix`, built as `cls([root,] split=..., ...)`.

    The builder checks the root (a folder for file datasets, none for generated ones) and the option names
    (the extra parameters of `cls.__init__`; an unknown one is a UserError listing the valid ones). Its
    docstring is the class docstring, which `segcompare datasets` shows.
    """

    def deco(cls):
        cls.prefix = prefix
        valid = [p for p in inspect.signature(cls.__init__).parameters if p not in _BUILD_ARGS]

        def build(root, split="train", size=None, augment=False, normalize=True, **options):
            if root and not needs_root:
                raise UserError(f"dataset {prefix!r} is generated and takes no folder: use the spec "
                                f"{prefix!r}, not {prefix + ':' + root!r}")
            for key in options:
                if key not in valid:
                    raise UserError(f"unknown option {key!r} for dataset {prefix!r}. Valid: {', '.join(valid)}")
            if needs_root and not root:
                raise UserError(f"dataset {prefix!r} needs a folder: use the spec {prefix}:ROOT")
            args = (root,) if needs_root else ()
            return cls(*args, split=split, size=size, augment=augment, normalize=normalize, **options)

        build.__doc__ = inspect.cleandoc(cls.__doc__ or "")
        build.__name__ = f"build_{cls.__name__}"
        build.dataset_class = cls
        build.needs_root = needs_root
        DATASETS.add(prefix, build)
        return cls

    return deco
