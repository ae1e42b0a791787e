"""`cityscapes:ROOT` (19 train ids) and `cityscapes-8:ROOT` (8 categories) in the official Cityscapes layout.

The label tables follow cityscapesScripts' `helpers/labels.py` (labelId -> trainId, categoryId, colour).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import register_dataset
from .loader import FileDataset, check_pairs, existing_dir, holdout, lut_from

DOWNLOAD = ("Cityscapes needs a free account: download leftImg8bit_trainvaltest.zip and "
            "gtFine_trainvaltest.zip from https://www.cityscapes-dataset.com/downloads/ and unzip both into ROOT "
            "(giving ROOT/leftImg8bit/train and ROOT/gtFine/train)")

# labelId: (name, trainId, categoryId) from labels.py (license plate, labelId -1, is never drawn).
LABELS = {
    0: ("unlabeled", 255, 0), 1: ("ego vehicle", 255, 0), 2: ("rectification border", 255, 0),
    3: ("out of roi", 255, 0), 4: ("static", 255, 0), 5: ("dynamic", 255, 0), 6: ("ground", 255, 0),
    7: ("road", 0, 1), 8: ("sidewalk", 1, 1), 9: ("parking", 255, 1), 10: ("rail track", 255, 1),
    11: ("building", 2, 2), 12: ("wall", 3, 2), 13: ("fence", 4, 2), 14: ("guard rail", 255, 2),
    15: ("bridge", 255, 2), 16: ("tunnel", 255, 2), 17: ("pole", 5, 3), 18: ("polegroup", 255, 3),
    19: ("traffic light", 6, 3), 20: ("traffic sign", 7, 3), 21: ("vegetation", 8, 4), 22: ("terrain", 9, 4),
    23: ("sky", 10, 5), 24: ("person", 11, 6), 25: ("rider", 12, 6), 26: ("car", 13, 7), 27: ("truck", 14, 7),
    28: ("bus", 15, 7), 29: ("caravan", 255, 7), 30: ("trailer", 255, 7), 31: ("train", 16, 7),
    32: ("motorcycle", 17, 7), 33: ("bicycle", 18, 7),
}
TRAIN_CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                 "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                 "motorcycle", "bicycle"]
TRAIN_PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153],
                 [153, 153, 153], [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152],
                 [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100],
                 [0, 80, 100], [0, 0, 230], [119, 11, 32]]
CATEGORIES = ["void", "flat", "construction", "object", "nature", "sky", "human", "vehicle"]
# labels.py has no category colours: each takes the colour of its best-known member (void black).
CATEGORY_PALETTE = [[0, 0, 0], [128, 64, 128], [70, 70, 70], [153, 153, 153], [107, 142, 35],
                    [70, 130, 180], [220, 20, 60], [0, 0, 142]]
OFFICIAL = {"train": "train", "val": "train", "test": "val"}  # our split -> the official folder it comes from


def find_pairs(root: Path, official: str) -> list[tuple[Path, Path]]:
    images_dir = root / "leftImg8bit" / official
    labels_dir = root / "gtFine" / official
    if not images_dir.is_dir():
        raise UserError(f"{images_dir} is missing. {DOWNLOAD}")
    if not labels_dir.is_dir():
        raise UserError(f"{labels_dir} is missing (the labels). {DOWNLOAD}")
    pairs = []
    for city in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        for img in sorted(city.glob("*_leftImg8bit.png")):
            stem = img.name[: -len("_leftImg8bit.png")]
            pairs.append((img, labels_dir / city.name / f"{stem}_gtFine_labelIds.png"))
    check_pairs(pairs)
    return pairs


@register_dataset("cityscapes")
class Cityscapes(FileDataset):
    """Cityscapes fine annotations, 19 classes (the benchmark's trainIds); other labels become 255.

    ROOT/leftImg8bit/{train,val}/CITY/CITY_SEQ_FRAME_leftImg8bit.png   (leftImg8bit_trainvaltest.zip)
    ROOT/gtFine/{train,val}/CITY/CITY_SEQ_FRAME_gtFine_labelIds.png    (gtFine_trainvaltest.zip)
    Test labels are not public, so: test = the official val set (500 images); val = every 10th image of the
    official train set (sorted by name); train = the rest of the official train set.
    Needs a free account at https://www.cityscapes-dataset.com/downloads/ (no automatic download).
    Options: val_every=10, cache=auto|true|false.
    """

    def __init__(self, root, split="train", size=None, augment=False, normalize=True, *, seed=0, cache="auto",
                 download=False, val_every=10):
        if download:
            raise UserError(DOWNLOAD)
        root = existing_dir(root, f"{self.prefix} root", DOWNLOAD)
        self.setup_classes()
        pairs = find_pairs(root, OFFICIAL[split])
        if split != "test":
            train, val = holdout(pairs, val_every)
            pairs = val if split == "val" else train
        names = [img.name[: -len("_leftImg8bit.png")] for img, _ in pairs]
        super().__init__(root, split, pairs, lut_from(self.mapping()), size, augment, normalize, seed, cache,
                         names)

    def setup_classes(self) -> None:
        self.classes, self.palette = list(TRAIN_CLASSES), [list(c) for c in TRAIN_PALETTE]

    def mapping(self) -> dict[int, int]:
        table = {label_id: train_id for label_id, (_, train_id, _) in LABELS.items()}
        table[255] = 255  # tolerated: masks re-saved by other tools sometimes mark ignore this way
        return table


@register_dataset("cityscapes-8")
class Cityscapes8(Cityscapes):
    """Cityscapes fine annotations grouped into the 8 categories of labels.py (categoryId).

    Same files and splits as cityscapes:ROOT. Classes: void, flat, construction, object, nature, sky, human,
    vehicle. By default void is a class of its own (void=class), as in the reference UNet-vs-SegFormer study;
    void=ignore makes void pixels 255 and leaves the 7 other categories (flat=0 ... vehicle=6).
    Options: void=class|ignore, val_every=10, cache=auto|true|false.
    """

    def __init__(self, root, split="train", size=None, augment=False, normalize=True, *, seed=0, cache="auto",
                 download=False, val_every=10, void="class"):
        if void not in ("class", "ignore"):
            raise UserError(f"cityscapes-8 option void must be class or ignore, got {void!r}")
        self.void = void
        super().__init__(root, split, size, augment, normalize, seed=seed, cache=cache, download=download,
                         val_every=val_every)

    def setup_classes(self) -> None:
        skip = 1 if self.void == "ignore" else 0
        self.classes, self.palette = CATEGORIES[skip:], [list(c) for c in CATEGORY_PALETTE[skip:]]

    def mapping(self) -> dict[int, int]:
        shift = 1 if self.void == "ignore" else 0
        table = {label_id: cat - shift if cat >= shift else 255 for label_id, (_, _, cat) in LABELS.items()}
        table[255] = 255
        return table
