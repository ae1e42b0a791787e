"""`folder:ROOT` — the generic "bring your own data" format of Contract 3, and the default class palette."""

from __future__ import annotations

from pathlib import Path

from .. import visualize
from ..errors import UserError
from ..formats import check_classes_json, read_json
from .base import IGNORE_INDEX, register_dataset
from .loader import FileDataset, existing_dir, lut_from, pair_by_stem

MAX_CLASSES_BYTES = 1024 * 1024


def default_palette(n: int) -> list[list[int]]:
    """n distinct colours for a dataset without its own palette: segcompare's colour-blind-safe one (the
    Pascal VOC map used before gave CamVid's pole and bicyclist colours ΔE 5 apart, even for normal vision)."""
    return visualize.default_palette(n).tolist()


def read_classes_json(path: Path) -> dict:
    """Parse and check classes.json -> {"classes", "ignore_index", "palette"} (bounded, see segcompare.formats)."""
    if not path.is_file():
        raise UserError(f"{path} is missing: write {{\"classes\": [\"background\", ...], "
                        "\"ignore_index\": 255}")
    meta = check_classes_json(read_json(path, "classes file", max_bytes=MAX_CLASSES_BYTES), str(path), IGNORE_INDEX)
    return {**meta, "palette": meta["palette"] or default_palette(len(meta["classes"]))}


@register_dataset("folder")
class FolderDataset(FileDataset):
    """Your own data, one folder per split.

    ROOT/classes.json                       {"classes": ["background", ...], "ignore_index": 255,
                                             "palette": [[r, g, b], ...] (optional)}
    ROOT/{train,val,test}/images/NAME.jpg   (or .jpeg / .png)
    ROOT/{train,val,test}/masks/NAME.png    single channel, value = class index, or ignore_index
    Every image needs a mask with the same name and size. An ignore_index other than 255 is read as 255.
    Options: cache=auto|true|false (keep decoded images in memory; auto below 2 GB);
    test_from_val=F (a data set without test/: the last fraction F of val's images, sorted by name, is the
    test split and the rest stays val; frames named in time order then give two contiguous stretches of video).
    """

    def __init__(self, root, split="train", size=None, augment=False, normalize=True, *, seed=0,
                 cache="auto", test_from_val=None):
        root = existing_dir(root, "folder dataset root", "Expected ROOT/classes.json and ROOT/train/images")
        meta = read_classes_json(root / "classes.json")
        self.classes, self.palette = meta["classes"], meta["palette"]
        carve = split in ("val", "test") and test_from_val not in (None, 0, "0", "none")
        split_dir = root / ("val" if carve else split)
        images = split_dir / "images"
        if not images.is_dir():
            raise UserError(f"folder:{root} has no {split} split: expected {images}/ and "
                            f"{split_dir / 'masks'}/")
        if not (split_dir / "masks").is_dir():
            raise UserError(f"folder:{root}: {split_dir / 'masks'}/ is missing (one NAME.png per image)")
        mapping = {k: k for k in range(len(self.classes))}
        mapping[meta["ignore_index"]] = 255
        pairs = pair_by_stem(images, split_dir / "masks")
        if carve:
            pairs = carve_test(pairs, test_from_val, split)
        super().__init__(root, split, pairs, lut_from(mapping), size, augment, normalize, seed, cache)


def carve_test(pairs: list, fraction, split: str) -> list:
    """The val pairs (sorted by name) split in two: the first part stays val, the last `fraction` is test."""
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0 < fraction < 1:
        raise UserError(f"folder option test_from_val must be a fraction between 0 and 1, got {fraction!r}")
    pairs = sorted(pairs)
    cut = len(pairs) - max(1, round(len(pairs) * fraction))
    return pairs[cut:] if split == "test" else pairs[:cut]
