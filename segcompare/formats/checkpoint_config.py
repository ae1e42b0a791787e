"""A checkpoint's `config.json` (Contract 2): every field the app, inference and loading use, type-checked.

What a field feeds decides its rule: `classes` become dictionary keys and labels (strings), `palette`
becomes uint8 colours (integers 0-255), `mean`/`std` normalise every input (three finite numbers, std
above zero: zero gives NaN confidences), `name` picks the code that builds the network (see model_names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import UserError
from .base import FormatError, TypedFile, is_int, is_number, need, need_dict, need_number, need_str, read_json, show
from .constants import CONFIG_FILE, IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, WEIGHTS_FILE
from .model_names import check_model_name

FORMAT = "segcompare/1"
MAX_CLASSES = 65_536
MAX_INPUT_SIDE = 4096  # inference resizes every picture to input_size: a huge one would exhaust memory
MAX_CLASS_NAME = 200
MAX_CONFIG_BYTES = 2 * 1024 * 1024  # a config with 65 536 class names and colours fits easily


def check_checkpoint_config(config, source: str = "config") -> dict:
    """`config` if it is a well-formed segcompare checkpoint config, else a one-line FormatError."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise FormatError(f"{source} has format {show(found)}; expected {FORMAT!r}")
    k = config.get("num_classes")
    need(is_int(k) and k >= 1, source, "num_classes", "a positive integer", k)
    if k > MAX_CLASSES:  # the head is allocated from this number before the weights are read
        raise FormatError(f"{source}: num_classes {k} is implausible (at most {MAX_CLASSES}); the file was edited "
                          "or damaged")
    check_model_name(config.get("name"), source)
    need_str(config, "library", source, optional=True, max_len=40)
    size = config.get("input_size")
    need(size is None or (isinstance(size, list) and len(size) == 2 and all(
        is_int(v) and 8 <= v <= MAX_INPUT_SIDE for v in size)), source, "input_size",
        f"[H, W] with sides from 8 to {MAX_INPUT_SIDE}", size)
    classes = config.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) != k):
        n = len(classes) if isinstance(classes, list) else type(classes).__name__
        raise FormatError(f"{source}: num_classes is {k} but classes lists {n}; the file was edited or damaged")
    bad = next((c for c in classes or [] if not (isinstance(c, str) and 0 < len(c) <= MAX_CLASS_NAME)), None)
    need(bad is None, source, "classes", f"names (strings of 1 to {MAX_CLASS_NAME} characters)", bad)
    need(classes is None or len(set(classes)) == len(classes), source, "classes", "distinct names", classes)
    ignore = config.get("ignore_index", 255)
    need(is_int(ignore) and 0 <= ignore <= 65_535, source, "ignore_index", "an integer from 0 to 65535", ignore)
    palette = config.get("palette")
    if palette is not None:
        need(isinstance(palette, list) and len(palette) <= k, source, "palette",
             f"a list of at most {k} [r, g, b] colours", palette)
        bad = next((c for c in palette if not (isinstance(c, list) and len(c) == 3
                                                and all(is_int(v) and 0 <= v <= 255 for v in c))), None)
        need(bad is None, source, "palette", "[r, g, b] colours of integers 0-255", bad)
    for key, positive in (("mean", False), ("std", True)):
        v = config.get(key)
        ok = v is None or (isinstance(v, list) and len(v) == 3 and all(is_number(x) for x in v)
                           and all((x > 0) if positive else True for x in v))
        need(ok, source, key, "three finite numbers" + (" above 0" if positive else ""), v)
    need_str(config, "dataset", source, optional=True)
    need_number(config, "params", source, lo=0)
    for key in ("train", "provenance"):
        need_dict(config, key, source)
    return config



def read_checkpoint_config(directory) -> dict:
    """The checked `config.json` of a checkpoint folder (FormatError naming the file and field)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: a checkpoint folder needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                        "(written by `segcompare train` or save_checkpoint)")
    return check_checkpoint_config(read_json(path, "checkpoint config", max_bytes=MAX_CONFIG_BYTES), str(path))


def config_bytes(config: dict, source: str = "config") -> bytes:
    """config.json's bytes, checked first: a writer never leaves a file its own readers refuse."""
    from ..files import json_bytes

    return json_bytes(check_checkpoint_config(config, source))


@dataclass
class CheckpointConfig(TypedFile):
    """A checked config.json: what builds the network (name, num_classes) and what reads its output."""

    FORMAT: ClassVar[str] = FORMAT
    CHECK: ClassVar = staticmethod(check_checkpoint_config)

    name: str
    num_classes: int
    library: str | None = None
    classes: list[str] | None = None
    palette: list[list[int]] | None = None
    ignore_index: int = IGNORE_INDEX
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    input_size: list[int] | None = None
    dataset: str | None = None
    params: int | None = None
    train: dict | None = None
    provenance: dict | None = None
    extra: dict = field(default_factory=dict)  # dtype, created, ...: kept as written
    written: tuple = field(default=(), repr=False, compare=False)  # keys the file had (null ones stay null)

    @classmethod
    def read(cls, directory) -> CheckpointConfig:
        return cls.from_dict(read_checkpoint_config(directory), str(Path(directory) / CONFIG_FILE))

    def to_bytes(self) -> bytes:
        return config_bytes(self.to_dict())

    def write(self, directory) -> Path:
        """Replace config.json atomically (weights unchanged: only metadata such as provenance moves)."""
        from ..files import atomic_write_bytes

        path = Path(directory) / CONFIG_FILE
        atomic_write_bytes(path, self.to_bytes())
        return path
