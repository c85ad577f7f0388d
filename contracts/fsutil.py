"""File-system steps that readers must never see half done (standard library only)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path


def replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place: readers see the old folder or the new one. Two
    writers racing for the same folder both succeed; the last one's content stays."""
    olds = []
    for _ in range(20):
        old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(FileNotFoundError):
            final.rename(old)
            olds.append(old)
        try:
            new.rename(final)
            break
        except OSError as exc:  # another writer put its folder in place in between
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    else:
        raise OSError(f"could not swap {new} into {final}")
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


# Work folders in use: an exclusive flock on the folder itself, held by the process building it
# until release() or its death (the OS drops the lock of a killed process).
_HELD: dict[Path, int] = {}
GRACE_S = 60.0  # a folder this young may be between its mkdir and its lock


def work_dir(final: Path) -> Path:
    """A fresh hidden sibling of `final` to build it in (hidden names are ignored by readers),
    locked as in use by this process (see sweep)."""
    work = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    fd = os.open(work, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[work] = fd
    return work


def release(work: Path) -> None:
    """This process no longer uses `work` (done, swapped into place, or removed)."""
    fd = _HELD.pop(work, None)
    if fd is not None:
        os.close(fd)


def _abandoned(folder: Path) -> bool:
    """No live process holds `folder`'s lock (its builder died)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops a lock taken here


def sweep(parent: Path, older_than_s: float = 86400, *, abandoned: bool = False) -> None:
    """Remove work folders that crashed or failed runs left behind a day or more ago; with
    `abandoned`, also every work folder whose builder is dead, whatever its age (a killed
    transform's folder can hold gigabytes)."""
    now = time.time()
    for leftover in list(parent.glob(".tmp-*")) + list(parent.glob(".old-*")):
        if not leftover.is_dir():
            continue
        age = now - leftover.stat().st_mtime
        dead = (abandoned and leftover.name.startswith(".tmp-") and age > GRACE_S
                and _abandoned(leftover))
        if age > older_than_s or dead:
            shutil.rmtree(leftover, ignore_errors=True)
