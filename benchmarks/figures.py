"""The benchmark's arithmetic, apart from its timing: what each figure in the JSON and in
docs/performance.md is made of. Pure functions of measured numbers; nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import stat
import statistics
from pathlib import Path


def steady(seconds: list[float]) -> float:
    """A steady epoch: the median of the epochs after the first (the first traces and builds the
    graphs; one slow epoch, when the shared machine stalls, would move a mean by half an epoch)."""
    return statistics.median(seconds[1:] or seconds)


def fastest(seconds: list[float]) -> float:
    """The fastest epoch after the first: peak against peak where the reference is a best-of-n."""
    return min(seconds[1:] or seconds)


def speedup(reference_seconds: float, seconds: float) -> float:
    """How many times faster ``seconds`` is than ``reference_seconds`` (>1: faster than the reference)."""
    return reference_seconds / seconds


def slowdown(seconds: float, reference_seconds: float) -> float:
    """``seconds`` as a multiple of ``reference_seconds`` (>1: slower than the reference)."""
    return seconds / reference_seconds


def saving_share(without: list[float], with_saving: list[float]) -> float:
    """What the per-epoch callbacks add to an epoch, as a share of the epoch without them: over the epochs
    after the first, (sum with - sum without) / sum without. Sums rather than medians, so that saving
    every k epochs (or every t seconds) is spread over the epochs it covers instead of hidden by a median."""
    if len(without) != len(with_saving):
        raise ValueError(f"{len(without)} epochs without the callbacks, {len(with_saving)} with them")
    plain, full = sum(without[1:] or without), sum(with_saving[1:] or with_saving)
    return (full - plain) / plain


def epoch_figures(
    seconds: list[float],
    n_train: int,
    epoch_flops: float | None = None,
    matmul_flops: float | None = None,
    bound_seconds: float | None = None,
) -> dict:
    """The figures of one training run's epoch times: steady and fastest epoch, samples/s, what the first
    epoch costs on top, and, given the epoch's FLOPs and the references, the shares of the 2048^2 matmul
    (``percent_of_matmul``) and of the bound (the model's own layer matmuls: bound / epoch)."""
    sec, best = steady(seconds), fastest(seconds)
    figures = {
        "steady_epoch_seconds": round(sec, 4),
        "fastest_epoch_seconds": round(best, 4),
        "samples_per_second": round(n_train / sec, 2),
        "first_over_steady": round(seconds[0] / sec, 2),
        "first_epoch_overhead_seconds": round(seconds[0] - sec, 3),
    }
    if epoch_flops is not None and matmul_flops:
        figures["achieved_flops"] = epoch_flops / sec
        figures["percent_of_matmul"] = round(100 * epoch_flops / sec / matmul_flops, 1)
        figures["percent_of_matmul_fastest"] = round(100 * epoch_flops / best / matmul_flops, 1)
    if bound_seconds is not None:
        figures["percent_of_bound"] = round(100 * bound_seconds / sec, 1)
        figures["percent_of_bound_fastest"] = round(100 * bound_seconds / best, 1)
    return figures


def _regular_files(top: Path):
    """Every regular file at or under ``top``, symbolic links not followed (and not counted), with its stat."""
    info = os.lstat(top)
    if stat.S_ISREG(info.st_mode):
        yield top, info
    elif stat.S_ISDIR(info.st_mode):
        for directory, _, names in os.walk(top, followlinks=False):
            for name in names:
                path = Path(directory) / name
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode):
                    yield path, info


def bytes_under(top: Path, seen: set | None = None) -> tuple[int, int]:
    """(bytes, files) of the regular files at or under ``top``, like ``du --apparent-size -b``: a file's
    size (st_size), a file with several hard links once (by device and inode, across calls sharing
    ``seen``), symbolic links not followed, directories' own entries not counted."""
    seen = set() if seen is None else seen
    total = files = 0
    for _, info in _regular_files(top):
        key = (info.st_dev, info.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += info.st_size
        files += 1
    return total, files


def disk_usage(root: str | Path) -> dict:
    """Bytes on disk of a run or sweep directory: the total (each file once, however many hard links it
    has), and each top-level entry on its own (an artefact, ``checkpoints/``, or a sweep's run), largest
    first. ``shared_bytes``: what the entries' own totals count more than once, i.e. files hard-linked
    between entries (a sweep sharing its runs' identical files). ``own_bytes``: what deleting the
    directory frees (files also linked from outside it, such as a shared store's, not counted)."""
    root = Path(root)
    total, files = bytes_under(root)
    entries = []
    for top in sorted(root.iterdir()):
        size, count = bytes_under(top)
        name = top.name + ("/" if top.is_dir() and not top.is_symlink() else "")
        entries.append({"name": name, "bytes": size, "files": count})
    entries.sort(key=lambda entry: (-entry["bytes"], entry["name"]))
    # Files linked from outside the directory too (a shared store) stay on disk when it is deleted.
    inside: dict[tuple[int, int], list] = {}
    for _, info in _regular_files(root):
        inside.setdefault((info.st_dev, info.st_ino), []).append(info)
    own = sum(infos[0].st_size for infos in inside.values() if infos[0].st_nlink <= len(infos))
    return {
        "bytes": total,
        "own_bytes": own,
        "files": files,
        "shared_bytes": sum(entry["bytes"] for entry in entries) - total,
        "entries": entries,
    }
