"""`history.jsonl`: one JSON object per epoch (written by `segcompare train`, drawn as training curves)."""

from __future__ import annotations

from .base import FormatError, is_int, is_number, show

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


def read_history_file(path) -> list[dict]:
    """Epoch records of a history.jsonl; [] without one.

    A broken last line (a training process killed mid-write) is skipped; a resumed run may repeat
    epochs, and the last record of an epoch wins.
    """
    from pathlib import Path

    from .base import loads_json, read_text

    path = Path(path)
    if not path.is_file():
        return []
    lines = [ln for ln in read_text(path, "training history").splitlines() if ln.strip()]
    if len(lines) > MAX_ROWS:
        raise FormatError(f"{path} has {len(lines)} lines; a training history has at most {MAX_ROWS} epochs")
    rows = []
    for i, line in enumerate(lines):
        where = f"{path} line {i + 1}"
        try:
            row = loads_json(line, where)
        except FormatError as e:
            if i == len(lines) - 1:
                break
            raise FormatError(f"{where} is not JSON ({str(e).removeprefix(where + ' ')}); delete that line or "
                              "the file") from None
        rows.append(check_history_row(row, where))
    by_epoch = {}
    for n, row in enumerate(rows):
        by_epoch[row.get("epoch", n)] = row
    return list(by_epoch.values())
