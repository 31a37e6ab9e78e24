"""A model a step saved, handed to the next step in the same process instead of rebuilt or read back.

``phase4a.pipeline`` runs every step in one process. Step 02 saves the backbone's weights and step
03 built the backbone again to load them; step 03 saves what it adds and step 04 rebuilt the model;
step 04 saves the trained model and steps 05 and 06 each read it back. Each of these builds a
ResNet50 layer by layer, the slowest part of starting a step. While the file is still the one this
process wrote, the model it was written from is handed over instead: the same layers and weights, so
the same results. Artefacts are never rewritten in place (``io.atomic_path`` renames a new file over
the old one), so the file's device, inode, size and modification time tell whether it is still that
file.

Only the last model saved is kept, so a sweep's process does not hold every run's model. A step that
changes the model it gets (steps 03 and 04) takes it, so no later step is given the changed model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras


@dataclass(frozen=True)
class _Kept:
    path: Path
    identity: tuple[int, int, int, int]
    model: keras.Model


_last: list[_Kept] = []  # at most one entry


def file_identity(path: str | os.PathLike) -> tuple[int, int, int, int]:
    status = os.stat(path)
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def keep(model: keras.Model, path: str | os.PathLike) -> None:
    """Remember ``model`` as the content of the file just saved at ``path``, in place of the last one."""
    _last[:] = [_Kept(Path(path).resolve(), file_identity(path), model)]


def kept(path: str | os.PathLike) -> keras.Model | None:
    """The model last kept for ``path`` while that file is unchanged, else None."""
    if not _last:
        return None
    entry = _last[0]
    try:
        unchanged = Path(path).resolve() == entry.path and file_identity(path) == entry.identity
    except OSError:
        return None
    return entry.model if unchanged else None


def take(path: str | os.PathLike) -> keras.Model | None:
    """``kept(path)``, forgotten once returned: for a caller that trains the model it is given."""
    model = kept(path)
    if model is not None:
        _last.clear()
    return model
