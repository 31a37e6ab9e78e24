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

from .errors import OutputError, RunDirBusyError

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
    """Hold ``run_dir``'s lock; a second process asking for it gets :class:`RunDirBusyError`.

    The lock file is removed on release, and a run directory this call created is removed again when
    nothing was written into it, so a step that fails early leaves no trace."""
    path = Path(run_dir).resolve() / LOCK_FILE
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    created = not path.parent.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path)
    except OSError as exc:  # under a file, or read-only: the one-line error io.atomic_path gives too
        raise OutputError(
            f"cannot write to {path.parent}: {exc.strerror}; choose a writable directory with --run-dir"
        ) from None
    _held[path] = 1
    try:
        yield
    finally:
        del _held[path]
        path.unlink(missing_ok=True)  # before the flock goes: a newcomer then makes a file of its own
        os.close(fd)
        if created and not any(path.parent.iterdir()):
            path.parent.rmdir()


def _acquire(path: Path) -> int:
    """An open descriptor of ``path`` holding its flock, with this process's PID and command written in."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirBusyError(
                f"{path.parent} is in use by {holder(path)}; wait for it to finish, "
                "or pass --run-dir DIR to run somewhere else"
            ) from None
        # The owner may have removed the file between our open and our flock: then lock the new one.
        if path.exists() and os.stat(path).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} ({' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]})".encode())
    return fd
