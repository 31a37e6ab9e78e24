"""One run per directory: a lock file in the run directory, held while a step or a driver writes there.

The lock is an advisory ``flock`` on ``.phase4a.lock``, which also holds the owner's PID and command
for the error message. The kernel releases it when the owner dies, so a lock left by a killed process
is taken over by the next run without anyone deleting a file. Within one process the lock is
re-entrant: the drivers hold it across the five steps, and each step takes it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import RunDirBusyError

LOCK_FILE = ".phase4a.lock"

_held: dict[Path, int] = {}  # lock path -> how many holders in this process


def holder(path: Path) -> str:
    """The PID and command written into a lock file, for the message."""
    try:
        text = path.read_text().strip()
    except OSError:
        return "another process"
    return f"process {text}" if text else "another process"


@contextlib.contextmanager
def run_dir_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``run_dir``'s lock; a second process asking for it gets :class:`RunDirBusyError`."""
    path = Path(run_dir).resolve() / LOCK_FILE
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusyError(
                f"{path.parent} is in use by {holder(path)}; wait for it to finish, "
                "or pass --run-dir DIR to run somewhere else"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} ({' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]})".encode())
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock
