"""`history.jsonl`: one JSON object per epoch (written by `segcompare train`, drawn as training curves).

One reader with one tolerance, used by the report, the app, the model card and `push`: a half-written
LAST line (a training process killed mid-write) is skipped; a broken line before it is a damaged file.
A resumed run may repeat epochs; the last record of an epoch wins. `EpochRecord` is the row a training
run writes (its keys, in their order, are those of every history.jsonl segcompare has written).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .base import FormatError, is_int, is_number, loads_json, read_text, show
from .constants import HISTORY_FILE

MAX_ROWS = 100_000


def check_history_row(row, source: str):
    """A row's values are numbers (or null) except a few labels; anything else is a damaged file."""
    if not isinstance(row, dict):
        raise FormatError(f"{source}: each line must be a JSON object (one epoch), got {show(row)}")
    epoch = row.get("epoch")
    if epoch is not None and not (is_int(epoch) and epoch >= 0):
        raise FormatError(f"{source}: epoch must be a whole number >= 0, got {show(epoch)}")
    for key, v in row.items():
        if not (v is None or is_number(v) or isinstance(v, (bool, str))):
            raise FormatError(f"{source}: {key} must be a number, got {show(v)}")
    return row


@dataclass
class EpochRecord:
    """One epoch of a training run, as `segcompare train` writes it (val_* are None when not validated)."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_miou: float | None
    lr: float
    seconds: float  # training and validation
    train_seconds: float
    train_cpu_seconds: float  # this process's CPU time: robust to a loaded machine
    images: int
    step: int  # optimizer steps after this epoch

    def to_dict(self) -> dict:
        return check_history_row(asdict(self), f"epoch {self.epoch}")


@dataclass
class History:
    """The epoch records of one training run, in epoch order (one per epoch)."""

    rows: list[dict] = field(default_factory=list)

    @classmethod
    def read(cls, path) -> History:
        """A checkpoint folder's history.jsonl (or the file itself); empty without one."""
        path = Path(path)
        if path.is_dir():
            path = path / HISTORY_FILE
        if not path.is_file():
            return cls()
        return cls.parse(read_text(path, "training history"), str(path))

    @classmethod
    def parse(cls, text: str, source: str) -> History:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > MAX_ROWS:
            raise FormatError(f"{source} has {len(lines)} lines; a training history has at most {MAX_ROWS} epochs")
        rows = []
        for i, line in enumerate(lines):
            where = f"{source} line {i + 1}"
            try:
                row = loads_json(line, where)
            except FormatError as e:
                if i == len(lines) - 1:  # half-written by a killed run: the epochs before it stand
                    break
                raise FormatError(f"{where} is not JSON ({str(e).removeprefix(where + ' ')}); delete that line or "
                                  "the file") from None
            rows.append(check_history_row(row, where))
        by_epoch = {}
        for n, row in enumerate(rows):
            by_epoch[row.get("epoch", n)] = row
        return cls(list(by_epoch.values()))

    def to_text(self) -> str:
        return "".join(json.dumps(row, allow_nan=False) + "\n" for row in self.rows)

    def write(self, path) -> Path:
        """Write atomically (a reader sees the old history or the new one, never half of it; OSError when
        the disk is full or read-only); a folder gets its history.jsonl. The whole file is rewritten, not
        appended to: a resumed run's history is then exactly the epochs its saved state holds, even after a
        kill between saving the history and saving last/."""
        from ..files import atomic_write_bytes

        path = Path(path)
        if path.is_dir():
            path = path / HISTORY_FILE
        for row in self.rows:
            check_history_row(row, str(path))
        atomic_write_bytes(path, self.to_text().encode())
        return path

    def __iter__(self) -> Iterator[dict]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def read_history_file(path) -> list[dict]:
    """Epoch records as dicts (for readers not yet using `History`); [] without a file."""
    return History.read(path).rows
