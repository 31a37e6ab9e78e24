"""Atomic artefact writing and content hashing.

Every artefact is written to a temporary file beside its destination and renamed into place, so a
step that fails half-way leaves the previous version of each artefact intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path with the same suffix as ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Keep the real suffixes last: Keras and matplotlib pick the format from them (".weights.h5").
        stem = path.name.split(".")[0]
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write to {path.parent}: {exc.strerror}; choose a writable directory with --run-dir"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, to_json(data))


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_npz(path: str | os.PathLike, compressed: bool = True, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def save_figure(path: str | os.PathLike, figure) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(figure)


# Keras logs this on every save to an .h5 path. The report's artefacts include transfer_model.h5, which
# step 04 saves (config also_save h5) beside the native .keras file, so the notice gives a student
# nothing to act on.
LEGACY_H5_NOTICE = "You are saving your model as an HDF5 file"


def save_keras_model(model, path: str | os.PathLike) -> None:
    """``model.save`` to ``path`` (format from its suffix) atomically, without Keras' legacy-HDF5 notice.
    A compiled model's file holds its optimizer's state; an uncompiled one's does not."""
    import logging

    def not_the_notice(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(LEGACY_H5_NOTICE)

    absl_logger = logging.getLogger("absl")  # Keras logs through absl, which logs through this logger
    absl_logger.addFilter(not_the_notice)
    try:
        with atomic_path(path) as tmp:
            model.save(tmp)
    finally:
        absl_logger.removeFilter(not_the_notice)


def load_keras_model(path: str | os.PathLike, remedy: str):
    """``keras.models.load_model``, with a damaged or partial file reported as one line naming ``remedy``.

    Not compiled: every caller predicts or compiles for itself, and a trained model's optimizer
    state (half of transfer_model.keras) is then not read.
    """
    import keras

    path = Path(path)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # zipfile, h5py and Keras all raise their own types for a damaged file
        reason = (str(exc).strip().splitlines() or [""])[0][:160]
        raise DataError(
            f"{path} cannot be read as a Keras model ({type(exc).__name__}: {reason}); "
            f"the file is damaged or incomplete: {remedy}"
        ) from None


def write_shared(path: str | os.PathLike, store: str | os.PathLike, key: str, write) -> bool:
    """Write a file that many runs share: ``write(tmp)`` makes it once in ``store`` under a name holding
    ``key`` (the hash of its content), and ``path`` becomes a hard link to it. Returns False where the
    file system cannot link (``path`` is then a copy).

    Every artefact is replaced by renaming, never rewritten in place, so no run changes the content
    another run links to; deleting a run, or the store, leaves the other links whole."""
    path, store = Path(path), Path(store)
    stem, suffixes = path.name.split(".")[0], "".join(path.suffixes)
    stored = store / f"{stem}-{key[:16]}{suffixes}"
    if not stored.is_file():
        with atomic_path(stored) as tmp:
            write(tmp)
    try:
        with atomic_path(path) as tmp:
            tmp.unlink()
            os.link(stored, tmp)
        return True
    except OSError:  # another file system, or one without hard links
        with atomic_path(path) as tmp:
            shutil.copyfile(stored, tmp)
        return False


def sha256_arrays(arrays) -> str:
    """The hash of arrays' shapes, types and bytes, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, default=_json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
