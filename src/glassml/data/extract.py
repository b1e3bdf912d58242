"""Safe, resumable extraction of downloaded archives (zip, tar, tar.gz/bz2/xz).

Archives are unpacked into a staging directory next to the destination and moved into
place only when complete, so an interrupted extraction never leaves a half-written
tree behind. A single wrapping directory (e.g. `GlassBench/` inside `GlassBench.zip`)
is stripped, members that would land outside the destination are refused, and a marker
file records a finished extraction so that re-runs skip it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")


class ArchiveError(RuntimeError):
    """An archive is corrupt, truncated or unsafe; the message names it."""


def is_archive(path: str | Path) -> bool:
    return str(path).endswith(ARCHIVE_SUFFIXES)


def archive_stem(path: str | Path) -> str:
    """`T0.44.tar.gz` -> `T0.44`."""
    name = Path(path).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _check_inside(root: Path, member: str, archive: Path) -> None:
    target = (root / member).resolve()
    if root.resolve() not in target.parents and target != root.resolve():
        raise ArchiveError(f"{archive}: member '{member}' would be written outside {root}")


def excluded(name: str, exclude: Sequence[str]) -> bool:
    """True when a member matches a pattern, as is or below a single root folder
    (`GlassBench/KA2D_trajectories/T0.30.tar.xz` matches `KA2D_trajectories/*`)."""
    below_root = name.split("/", 1)[-1]
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(below_root, p) for p in exclude)


def _unpack(archive: Path, staging: Path, exclude: Sequence[str] = ()) -> None:
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                members = [n for n in zf.namelist() if not excluded(n, exclude)]
                for name in members:
                    _check_inside(staging, name, archive)
                zf.extractall(staging, members=members)  # checks every member's CRC
        else:
            with tarfile.open(archive) as tf:
                members = [m for m in tf.getmembers() if not excluded(m.name, exclude)]
                for m in members:
                    _check_inside(staging, m.name, archive)
                    if m.issym() or m.islnk():
                        raise ArchiveError(f"{archive}: links are not accepted ('{m.name}')")
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(staging, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4; members checked above
                    tf.extractall(staging, members=members)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(
            f"{archive} is corrupt or truncated and cannot be extracted ({exc})"
        ) from exc


def _merge_move(src: Path, dst: Path) -> None:
    """Move `src` onto `dst`, merging directories (files in `src` win)."""
    if dst.is_dir() and src.is_dir():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)
        src.rmdir()
    else:
        if dst.is_dir():
            shutil.rmtree(dst)
        os.replace(src, dst)


def _marker(archive: Path, dest: Path) -> Path:
    return dest / f".{archive.name}.extracted"


def _stamp(archive: Path, exclude: Sequence[str] = ()) -> dict[str, Any]:
    st = archive.stat()
    stamp: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if exclude:
        stamp["exclude"] = sorted(exclude)
    return stamp


def extracted(archive: Path, dest: Path, exclude: Sequence[str] = ()) -> bool:
    """True when `archive` (as it is now, with the same members left out) was fully
    extracted into `dest` before."""
    marker = _marker(archive, dest)
    if not marker.is_file() or not archive.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == _stamp(archive, exclude)
    except (OSError, ValueError):
        return False


def extract(
    archive: str | Path,
    dest: str | Path,
    strip_single_root: bool = True,
    exclude: Sequence[str] = (),
) -> Path:
    """Unpack `archive` into `dest` (created), atomically per top-level entry; returns dest.
    Members matching an `exclude` pattern are left in the archive."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    staging = dest / f".{archive.name}.extracting"
    if staging.exists():  # leftover of an interrupted extraction
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        _unpack(archive, staging, exclude)
        root = staging
        entries = list(staging.iterdir())
        if strip_single_root and len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        for entry in list(root.iterdir()):
            _merge_move(entry, dest / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from glassml.io import atomic_write_text

    atomic_write_text(_marker(archive, dest), json.dumps(_stamp(archive, exclude)))
    return dest


def extract_nested(dest: str | Path, patterns: list[str], remove: bool = True) -> list[Path]:
    """Unpack archives inside `dest` matching `patterns` into folders named after them.

    `KA_models/T0.44.tar.gz` -> `KA_models/T0.44/` (a wrapping `T0.44/` is stripped).
    The nested archive is deleted afterwards when `remove`.
    """
    dest = Path(dest)
    done = []
    for pattern in patterns:
        for arc in sorted(dest.glob(pattern)):
            if not arc.is_file() or not is_archive(arc):
                continue
            target = arc.parent / archive_stem(arc)
            if not extracted(arc, target):
                extract(arc, target)
            if remove:
                arc.unlink()
            done.append(target)
    return done
