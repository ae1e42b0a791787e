"""Reading image/mask files from disk (decode once, check, cache) and the DataLoader every command uses.

`FileDataset` is the base of the on-disk dataset families (folder, oxford-pet, cityscapes, bdd100k): a
subclass finds its (image, mask) file pairs and gives a lookup table from raw mask values to class indices. Cheap
checks (root, split folder, every image has a mask) run at construction; per-file checks (readable, mask
size, mask values) run when a file is loaded and name the file. `validate()` runs them over a whole split.

Decoded arrays are kept in memory at the working resolution when the split fits (`cache="auto"`: under
CACHE_LIMIT_BYTES), and `make_loader` fills that cache in the main process before DataLoader workers fork,
so the workers share it copy-on-write instead of each decoding every file again.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..formats.images import check_image_size, check_mask_values
from . import transforms as T
from .base import SegDataset

CACHE_LIMIT_BYTES = 2 * 1024**3
IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def existing_dir(path, what: str, hint: str = "") -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise UserError(f"{what} {str(p)!r} is not a folder{'. ' + hint if hint else ''}")
    return p


def holdout(items: list, every: int = 10) -> tuple[list, list]:
    """Deterministic validation slice: every `every`-th item (of the sorted list) -> (train, val)."""
    every = int(every)
    if every < 2:
        raise UserError(f"val_every must be at least 2, got {every}")
    items = sorted(items)
    return ([x for i, x in enumerate(items) if i % every != every - 1],
            [x for i, x in enumerate(items) if i % every == every - 1])


def pair_by_stem(images_dir: Path, masks_dir: Path, mask_suffix: str = ".png") -> list[tuple[Path, Path]]:
    """Pair images_dir/NAME.jpg|png with masks_dir/NAME.png; an image without a mask is a UserError."""
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    stems = [p.stem for p in images]
    dup = sorted({s for s in stems if stems.count(s) > 1}) if len(set(stems)) != len(stems) else []
    if dup:
        raise UserError(f"{images_dir} has several images named {dup[0]!r} (e.g. .jpg and .png); keep one")
    masks = {p.name for p in masks_dir.iterdir()} if masks_dir.is_dir() else set()
    pairs = [(p, masks_dir / (p.stem + mask_suffix)) for p in images]
    check_pairs(pairs, masks)
    return pairs


def check_pairs(pairs, existing_masks: set | None = None) -> None:
    missing = [(img, m) for img, m in pairs
               if not (m.name in existing_masks if existing_masks is not None else m.is_file())]
    if missing:
        img, m = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"image {img} has no mask: expected {m}{more}")


def lut_from(mapping: dict[int, int]) -> np.ndarray:
    """Raw mask value -> class index (or 255 = ignore); -1 marks a value that must not occur."""
    lut = np.full(256, -1, dtype=np.int16)
    for raw, cls in mapping.items():
        lut[raw] = cls
    return lut


def describe_values(values) -> str:
    """[0, 1, 2, 3, 7, 255] -> '0-3, 7, 255'."""
    out, values = [], sorted(int(v) for v in values)
    start = prev = None
    for v in values + [None]:
        if start is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    return ", ".join(out)


def read_mask(path: Path) -> np.ndarray:
    """A single-channel PNG as an integer array (palette PNGs give their indices)."""
    try:
        with Image.open(path) as im:
            mode = im.mode
            check_image_size(im.size, path, "mask")
            arr = np.asarray(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError(f"cannot read mask {path}: {e}. Replace or remove the file") from None
    check_mask_values(arr, mode, path)
    if arr.ndim == 3:
        if arr.shape[2] >= 3 and (arr[..., 0] == arr[..., 1]).all() and (arr[..., 0] == arr[..., 2]).all():
            return arr[..., 0]  # grey saved as RGB: the value is unambiguous
        raise UserError(f"mask {path} is a colour image ({mode}); masks must be single-channel PNGs whose "
                        "values are class indices")
    return arr.astype(np.uint8) if arr.dtype == bool else arr


class FileDataset(SegDataset):
    """Base of the on-disk families: (image, mask) file pairs plus a raw-value -> class lookup table."""

    prefix = "files"

    def __init__(self, root, split, pairs, lut, size=None, augment=False, normalize=True, seed=0,
                 cache="auto", names=None):
        super().__init__(f"{self.prefix}:{root}", split, size, augment, normalize, seed)
        if not pairs:
            raise UserError(f"{self.spec}: split {split!r} has no images; check the folder layout "
                            f"(`segcompare datasets` shows it)")
        self.images = [Path(a) for a, _ in pairs]
        self.masks = [Path(b) for _, b in pairs]
        self.names = list(names) if names is not None else [p.stem for p in self.images]
        self.lut = lut
        self._cache = [None] * len(pairs) if self._use_cache(cache) else None

    # --- the SegDataset interface -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    def name(self, i: int) -> str:
        return self.names[i]

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded, checked and mapped arrays at the working resolution (cached when enabled)."""
        if self._cache is not None and self._cache[i] is not None:
            return self._cache[i]
        item = self.read(i)
        if self._cache is not None:
            self._cache[i] = item
        return item

    # --- reading and checking one file pair ---------------------------------------------------------
    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        ipath = self.images[i]
        mask = self.load_mask(i)
        try:
            with Image.open(ipath) as im:
                w, h = im.size
                check_image_size(im.size, ipath)
                target = T.work_size(self.size, self.augment, (h, w))
                if target is not None and im.format == "JPEG":
                    im.draft("RGB", (target[1], target[0]))  # decode at 1/2..1/8 scale when that suffices
                image = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise UserError(f"cannot read image {ipath}: {e}. Replace or remove the file") from None
        if mask.shape != (h, w):
            raise UserError(f"mask {self.masks[i]} is {mask.shape[1]}x{mask.shape[0]} but image {ipath} is "
                            f"{w}x{h}; a mask must have its image's size")
        target = target or (h, w)
        return T.resize_image(image, target), T.resize_mask(mask, target)

    def load_mask(self, i: int) -> np.ndarray:
        """The mask of item i at full resolution, mapped to class indices (uint8, 255 = ignore)."""
        path = self.masks[i]
        raw = read_mask(path)
        if raw.dtype != np.uint8:
            if raw.min() < 0 or raw.max() > 255:
                self._bad_values(path, raw[(raw < 0) | (raw > 255)])
            raw = raw.astype(np.uint8)
        mapped = self.lut[raw]
        bad = mapped < 0
        if bad.any():
            self._bad_values(path, raw[bad])
        return mapped.astype(np.uint8)

    def _bad_values(self, path, values):
        found = np.unique(values)
        shown = describe_values(found[:20]) + (", ..." if len(found) > 20 else "")
        valid = describe_values(np.flatnonzero(self.lut >= 0))
        raise UserError(f"mask {path} has values {shown} outside the classes; valid values: {valid}")


    # --- the in-memory cache --------------------------------------------------------------------------
    def _use_cache(self, cache) -> bool:
        if isinstance(cache, str):
            cache = {"auto": "auto", "true": True, "yes": True, "1": True,
                     "false": False, "no": False, "0": False}.get(cache.lower(), cache)
        if cache == "auto":
            return self.estimated_bytes() < CACHE_LIMIT_BYTES
        if cache is True or cache is False:
            return cache
        raise UserError(f"cache must be true, false or auto, got {cache!r}")

    def estimated_bytes(self) -> int:
        """Memory for the whole split at the working resolution (from the first image's header)."""
        try:
            with Image.open(self.images[0]) as im:
                w, h = im.size
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            return CACHE_LIMIT_BYTES  # unreadable or too large: reported when loaded; do not cache on a guess
        target = T.work_size(self.size, self.augment, (h, w)) or (h, w)
        return len(self) * target[0] * target[1] * 4  # RGB + mask bytes

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def fill_cache(self, threads: int | None = None) -> int:
        """Decode every item not cached yet (Pillow releases the GIL, so threads help); returns the count."""
        if self._cache is None:
            return 0
        todo = [i for i, item in enumerate(self._cache) if item is None]
        threads = threads or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.load, todo))
        return len(todo)


# --- DataLoader -------------------------------------------------------------------------------------
class EpochSampler(torch.utils.data.Sampler):
    """This process's share of a permutation seeded by (seed, epoch), as `(epoch, index)` pairs.

    The epoch travels with each index to the worker that loads it (see `EpochItems`), so augmentation seeded
    by (seed, epoch, index) is reproducible and resumable while the workers persist across epochs. With
    `shuffle=False` the shares are disjoint and cover every index exactly once.
    """

    def __init__(self, n: int, rank: int = 0, world: int = 1, seed: int = 0, shuffle: bool = True):
        self.n, self.rank, self.world, self.seed, self.shuffle = n, rank, world, seed, shuffle
        self.epoch = 0

    def indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.n, self.world))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        per = math.ceil(self.n / self.world)
        order += order[: per * self.world - self.n]  # equal shares: every process runs the same number of steps
        return order[self.rank::self.world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch  # read once, in the main process, when the epoch's iteration starts
        return iter([(epoch, i) for i in self.indices()])

    def __len__(self) -> int:
        return len(self.indices()) if not self.shuffle else math.ceil(self.n / self.world)

    def loader_seed(self) -> int:
        """Seed of the loader's generator at this epoch: a function of (seed, epoch, rank), never of the
        process's past (the generator fixes the workers' base seed)."""
        return (self.seed * 1_000_003 + self.epoch) * 1_009 + self.rank + (0 if self.shuffle else 500)


class EpochItems(torch.utils.data.Dataset):
    """`dataset[(epoch, i)]` -> `dataset[i]` as augmented at `epoch` (in whichever process loads it)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        self.dataset.epoch = epoch  # this process's copy; items are loaded one at a time per process
        return self.dataset[i]


def seed_worker(worker_id: int) -> None:
    """Start a worker: seed numpy and random from torch's per-worker seed (which the generator fixes), and
    drop the inherited `--out` lock, which must end with the training process (a resume right after a kill)."""
    from ..locks import close_inherited

    close_inherited()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def default_workers(dataset) -> int:
    """Up to 4 worker processes, even for cached items: workers run torch single-threaded, while the main
    process's OpenMP threads made the same work 3-10x slower when other processes kept the cores busy
    (benchmarks/bench_data.py)."""
    return max(1, min(4, os.cpu_count() or 1))


def make_loader(dataset, batch_size: int = 8, shuffle: bool = False, workers: int | None = None,
                seed: int = 0, drop_last: bool = False, sampler: EpochSampler | None = None,
                pin_memory: bool | None = None) -> torch.utils.data.DataLoader:
    """The one DataLoader factory: cache filled first, `EpochSampler` order, persistent workers, pinned memory
    and prefetching for a GPU (`pin_memory` None: when CUDA is available). A given `sampler` (e.g. one
    process's shard under `accelerate launch`) replaces `shuffle` and `seed`.

    Set `loader.sampler.epoch` (or call `set_epoch(loader, epoch)`) before each epoch; the loader has its own
    generator, so iterating never draws from the global RNG (a resumed run's dropout stays in step).
    """
    if hasattr(dataset, "fill_cache"):
        dataset.fill_cache()
    workers = default_workers(dataset) if workers is None else int(workers)
    if workers < 0:
        raise UserError(f"workers must be 0 or more, got {workers}")
    sampler = sampler or EpochSampler(len(dataset), seed=seed, shuffle=shuffle)
    kwargs = {}
    if workers > 0:
        kwargs = dict(worker_init_fn=seed_worker, persistent_workers=True, prefetch_factor=4)
        if "fork" in torch.multiprocessing.get_all_start_methods():
            kwargs["multiprocessing_context"] = "fork"  # share the filled cache copy-on-write
    pin = torch.cuda.is_available() if pin_memory is None else pin_memory
    return torch.utils.data.DataLoader(
        EpochItems(dataset), batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=drop_last,
        pin_memory=pin, generator=torch.Generator().manual_seed(sampler.loader_seed()), **kwargs)


def set_epoch(loader: torch.utils.data.DataLoader, epoch: int) -> None:
    """Point a `make_loader` loader at `epoch`: its order, its augmentation and its generator's seed."""
    loader.sampler.epoch = epoch
    loader.generator.manual_seed(loader.sampler.loader_seed())
