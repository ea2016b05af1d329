"""An exclusive POSIX ``flock`` on a lock file that is removed again when the lock is released.

The holder unlinks the file *before* unlocking, so nothing is left behind (not after Ctrl-C either; after
``kill -9`` the kernel drops the lock and the next holder reuses the file). A process that was waiting on the
unlinked file notices that the path now names another file (or none) and locks again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive_lock"]


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block; the file is removed afterwards.

    Raises ``BlockingIOError`` when ``blocking=False`` and another process holds it, and the ``OSError`` of
    opening the file (e.g. a read-only directory) otherwise.
    """
    path = Path(path)
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the directory was removed between mkdir and open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)  # the previous holder removed the file we waited on: lock the one there now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
