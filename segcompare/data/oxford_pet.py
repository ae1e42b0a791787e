"""`oxford-pet:ROOT` — the Oxford-IIIT Pet trimaps in torchvision's `OxfordIIITPet` layout."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import register_dataset
from .loader import FileDataset, check_pairs, holdout, lut_from

SOURCE = "https://www.robots.ox.ac.uk/~vgg/data/pets/"


def find_base(root: Path) -> Path | None:
    """ROOT may be the parent of oxford-iiit-pet/ (torchvision's root) or that folder itself."""
    for base in (root / "oxford-iiit-pet", root):
        if (base / "images").is_dir() and (base / "annotations").is_dir():
            return base
    return None


def download_pets(root: Path) -> None:
    """Fetch and extract the two archives with torchvision's own code (into ROOT/oxford-iiit-pet)."""
    from torchvision.datasets import OxfordIIITPet

    parent = root.parent if root.name == "oxford-iiit-pet" else root
    try:
        OxfordIIITPet(str(parent), split="trainval", target_types="segmentation", download=True)
    except Exception as e:  # network, disk or checksum: all end the same way for the user
        raise UserError(f"could not download Oxford-IIIT Pet into {parent / 'oxford-iiit-pet'} ({e}); "
                        f"download images.tar.gz and annotations.tar.gz from {SOURCE} and extract them "
                        "there") from None


def read_list(path: Path) -> list[str]:
    """Image names from trainval.txt / test.txt ("Abyssinian_100 1 1 1" per line)."""
    if not path.is_file():
        raise UserError(f"{path} is missing; the annotations archive from {SOURCE} has it")
    names = [line.split()[0] for line in path.read_text().splitlines() if line.strip() and line[0] != "#"]
    return sorted(set(names))


@register_dataset("oxford-pet")
class OxfordPet(FileDataset):
    """Oxford-IIIT Pet (37 breeds of cats and dogs) as a 3-class trimap task; `--download` supported.

    ROOT/oxford-iiit-pet/images/NAME.jpg                   (ROOT may also be the oxford-iiit-pet folder)
    ROOT/oxford-iiit-pet/annotations/trimaps/NAME.png      values 1 = pet, 2 = background, 3 = border
    ROOT/oxford-iiit-pet/annotations/{trainval,test}.txt   image lists, as torchvision downloads them
    Classes: background=0 (trimap 2), pet=1 (trimap 1), boundary=2 (trimap 3).
    Splits: test = test.txt; val = every 10th name of trainval.txt (sorted); train = the rest of trainval.
    Options: download=true (torchvision's OxfordIIITPet code), boundary=class|ignore (ignore: the border band
    becomes 255 and the classes are background, pet), val_every=10, cache=auto|true|false.
    """

    palette = [[0, 0, 0], [255, 165, 0], [255, 255, 255]]

    def __init__(self, root, split="train", size=None, augment=False, normalize=True, *, seed=0, cache="auto",
                 download=False, boundary="class", val_every=10):
        root = Path(root).expanduser()
        if download and find_base(root) is None:
            download_pets(root)
        base = find_base(root)
        if base is None:
            raise UserError(f"oxford-pet: no images/ and annotations/ under {root} or "
                            f"{root / 'oxford-iiit-pet'}; "
                            "add the option download=true (segcompare datasets --download oxford-pet:ROOT) "
                            f"or get them from {SOURCE}")
        if boundary not in ("class", "ignore"):
            raise UserError(f"oxford-pet option boundary must be class or ignore, got {boundary!r}")
        if boundary == "class":
            self.classes, mapping = ["background", "pet", "boundary"], {1: 1, 2: 0, 3: 2}
        else:
            self.classes, mapping = ["background", "pet"], {1: 1, 2: 0, 3: 255}
        self.palette = self.palette[:len(self.classes)]
        names = self.split_names(base / "annotations", split, val_every)
        pairs = [(base / "images" / f"{n}.jpg", base / "annotations" / "trimaps" / f"{n}.png") for n in names]
        missing = [img for img, _ in pairs if not img.is_file()]
        if missing:
            raise UserError(f"image {missing[0]} is listed in the {split} list but missing"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        check_pairs(pairs)
        super().__init__(root, split, pairs, lut_from(mapping), size, augment, normalize, seed, cache, names)

    @staticmethod
    def split_names(annotations: Path, split: str, val_every) -> list[str]:
        if split == "test":
            return read_list(annotations / "test.txt")
        train, val = holdout(read_list(annotations / "trainval.txt"), val_every)
        return val if split == "val" else train
