"""Files on disk that survive a killed process: atomic writes, and sweeping what a kill left behind.

A write goes to a temp file next to its target and is renamed over it (`os.replace`), so a reader sees the
old file or the new one, never half of one. A SIGKILL in the middle leaves the temp file; writers call
`remove_older` on their own temp names so leftovers go away on a later write instead of piling up.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

STALE_TEMP_S = 3600  # no segcompare write takes an hour: an older temp file is a killed write's leftover
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write_files({path: data})


def atomic_write_files(contents: dict) -> None:
    """Write {path: bytes} so the files change together as nearly as a file system allows: every temp file
    is written and synced first, then all are renamed in one pass. A kill can then fall only between two
    renames (microseconds), not between two whole writes (a checkpoint's weights and its config)."""
    pending: list[tuple[str, Path]] = []
    try:
        for path, data in contents.items():
            path = Path(path)
            pending.append((_write_temp(path, data), path))
        while pending:
            tmp, path = pending[0]
            os.replace(tmp, path)
            pending.pop(0)
    except BaseException:
        for tmp, _ in pending:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for path in contents:
        remove_older(Path(path).parent, STALE_TEMP_S, f".{Path(path).name}.*.tmp")


def _write_temp(path: Path, data: bytes) -> str:
    """A synced temp file next to `path` holding `data` (removed again if the write fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; checkpoints are meant to be shared
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, json_bytes(obj))


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode()


def remove_older(folder: str | Path, seconds: float, pattern: str = "*") -> int:
    """Delete what matches `pattern` in `folder` (files, or folders with their contents) unmodified for
    `seconds`; returns how many entries went. Entries that vanish meanwhile are skipped."""
    now, removed = time.time(), 0
    for path in Path(folder).glob(pattern):
        try:
            if now - path.lstat().st_mtime <= seconds:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except OSError:  # deleted meanwhile by another thread or process, or not ours to delete
            pass
    return removed
