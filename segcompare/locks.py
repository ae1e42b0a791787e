"""One writer per output folder: an exclusive `fcntl` lock on `<folder>/.segcompare.lock`.

Two `segcompare train` runs into one `--out` would interleave their files (config.json from one, history
from the other), and `--resume` while the first run is still going would fight over `last/`. The lock is
held by the open file, so the kernel drops it when the process dies however it dies: no stale lock to
clean up. The file records who holds it, for the message the second run prints.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from .errors import UserError

LOCK_FILE = ".segcompare.lock"
_held: dict[str, int] = {}  # folder -> fd, so one process may re-enter (train inside compare)


class FolderLock:
    def __init__(self, folder: Path, fd: int | None):
        self.folder, self.fd = folder, fd

    def release(self) -> None:
        if self.fd is not None:
            _held.pop(str(self.folder), None)
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_folder(folder: str | Path, what: str) -> FolderLock:
    """Hold `folder` (created if needed) for this process; a folder another process holds -> one-line UserError."""
    folder = Path(folder).expanduser()
    key = str(folder.resolve())
    if key in _held:  # already ours (e.g. compare -> train): the outer holder releases it
        return FolderLock(folder, None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except FileExistsError:
        raise UserError(f"{folder} is a file; give a folder") from None
    except OSError as e:
        raise UserError(f"cannot write to --out {folder}: {e.strerror or e}; choose a writable folder") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise UserError(f"{folder} is in use by {holder}; wait for it to finish, or choose another folder") from None
    except OSError:  # a file system without locks (some network mounts): carry on unguarded
        pass
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"segcompare {what} (pid {os.getpid()}: {' '.join(sys.argv[:3])})\n".encode(), 0)
    except OSError:  # a full disk must not stop the run here; the message just lacks its holder
        pass
    _held[key] = fd
    return FolderLock(folder, fd)


def close_inherited() -> None:
    """In a forked child (a DataLoader worker): close its copies of the held locks' files, so a lock ends with
    the process that took it; a worker outliving a killed run for a few seconds would otherwise hold it."""
    for fd in _held.values():
        os.close(fd)  # the parent's own descriptor, and so its lock, is untouched
    _held.clear()
