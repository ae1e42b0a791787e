"""`bdd100k-drivable:ROOT` — BDD100K drivable-area masks in the official 100k layout."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import register_dataset
from .loader import FileDataset, existing_dir, holdout, lut_from, pair_by_stem

DOWNLOAD = ("BDD100K needs a free account: download the 100K images (bdd100k_images_100k.zip) and the "
            "drivable area masks (bdd100k_drive_masks / drivable maps) from https://dl.cv.ethz.ch/bdd100k/ (see "
            "https://doc.bdd100k.com/download.html) and unzip them into ROOT "
            "(giving ROOT/images/100k/train and ROOT/labels/drivable/masks/train)")
OFFICIAL = {"train": "train", "val": "train", "test": "val"}


def find_base(root: Path) -> Path:
    """ROOT may hold images/ and labels/ or the bdd100k/ folder that the archives unzip to."""
    for base in (root, root / "bdd100k"):
        if (base / "images" / "100k").is_dir():
            return base
    raise UserError(f"{root / 'images' / '100k'} is missing. {DOWNLOAD}")


@register_dataset("bdd100k-drivable")
class BDD100KDrivable(FileDataset):
    """BDD100K drivable area: 3 classes, direct=0 (the ego lane), alternative=1, background=2.

    ROOT/images/100k/{train,val}/NAME.jpg                (ROOT may also be the folder holding bdd100k/)
    ROOT/labels/drivable/masks/{train,val}/NAME.png      values 0 direct, 1 alternative, 2 background
    Test labels are not public, so: test = the official val set (10,000 images); val = every 10th image of
    the official train set (sorted by name); train = the rest.
    Needs a free account (https://doc.bdd100k.com/download.html); no automatic download.
    Options: val_every=10, cache=auto|true|false.
    """

    classes = ["direct", "alternative", "background"]
    palette = [[219, 94, 86], [86, 211, 219], [0, 0, 0]]

    def __init__(self, root, split="train", size=None, augment=False, normalize=True, *, seed=0, cache="auto",
                 download=False, val_every=10):
        if download:
            raise UserError(DOWNLOAD)
        base = find_base(existing_dir(root, "bdd100k-drivable root", DOWNLOAD))
        official = OFFICIAL[split]
        images = base / "images" / "100k" / official
        masks = base / "labels" / "drivable" / "masks" / official
        for folder in (images, masks):
            if not folder.is_dir():
                raise UserError(f"{folder} is missing. {DOWNLOAD}")
        pairs = pair_by_stem(images, masks)
        if split != "test":
            train, val = holdout(pairs, val_every)
            pairs = val if split == "val" else train
        super().__init__(root, split, pairs, lut_from({0: 0, 1: 1, 2: 2, 255: 255}), size, augment, normalize,
                         seed, cache)
