"""File-system steps that readers must never see half done (standard library only)."""

from __future__ import annotations

import contextlib
import errno
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


def work_dir(final: Path) -> Path:
    """A fresh hidden sibling of `final` to build it in (hidden names are ignored by readers)."""
    work = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    return work


def sweep(parent: Path, older_than_s: float = 86400) -> None:
    """Remove work folders that crashed or failed runs left behind a day or more ago."""
    cutoff = time.time() - older_than_s
    for leftover in list(parent.glob(".tmp-*")) + list(parent.glob(".old-*")):
        if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
            shutil.rmtree(leftover, ignore_errors=True)
