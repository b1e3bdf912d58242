"""Frames written by other MD codes: LAMMPS text dumps and data files, extended XYZ, GSD.

Every format is read by a well-kept library and returned as the same `Frame` record:
- LAMMPS text dumps: MDAnalysis (its reader applies image flags to x/y/z, reads unwrapped
  xu/yu/zu and sorts atoms by id; ASE's reader drops ix/iy/iz), except the dumps it refuses
  or misreads, which glassml.data.lammps_dump parses: no id column, 2D without z columns,
  scaled coordinates (xs, xsu);
- LAMMPS data files and extended XYZ: ASE (`ase.io`);
- GSD (HOOMD-blue): the `gsd` package itself, which also tells whether a frame stores its
  own image flags (HOOMD writes them only in the first frame unless asked).

Only orthorhombic periodic boxes are accepted. Particle labels are kept as strings (LAMMPS
type numbers, element symbols, GSD type names); mapping them to species is the caller's.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glassml.data.io import DatasetError

#: file suffix -> format name
SUFFIXES: dict[str, str] = {
    ".dump": "lammps-dump",
    ".lammpstrj": "lammps-dump",
    ".lammpsdump": "lammps-dump",
    ".data": "lammps-data",
    ".lmp": "lammps-data",
    ".xyz": "extxyz",
    ".extxyz": "extxyz",
    ".gsd": "gsd",
}
FORMATS = ("lammps-dump", "lammps-data", "extxyz", "gsd")


# MDAnalysis logs every attribute guess and missing optional module (netCDF4) on import;
# what matters to a reader here surfaces as an exception
logging.getLogger("MDAnalysis").setLevel(logging.ERROR)


class TrajectoryError(DatasetError):
    """A trajectory file cannot be used; the message names the file (and frame)."""


@dataclass
class Frame:
    """One snapshot: positions [N, d], string labels [N], box edges [d]."""

    positions: np.ndarray
    labels: np.ndarray
    box: np.ndarray
    # positions are continuous in time (image flags applied, or unwrapped coordinates)
    unwrapped: bool
    step: int | None = None
    time: float | None = None

    @property
    def n(self) -> int:
        return int(self.positions.shape[0])


def _starts_like_lammps_dump(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            first = f.readline(64).strip()
    except OSError:
        return False
    return first in (b"ITEM: TIMESTEP", b"ITEM: UNITS", b"ITEM: TIME")


def detect_format(path: str | os.PathLike[str], fmt: str = "auto") -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise TrajectoryError(f"{path}: format '{fmt}' is not one of {FORMATS} or auto")
        return fmt
    if _starts_like_lammps_dump(Path(path)):  # whatever the suffix (some name them .xyz)
        return "lammps-dump"
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise TrajectoryError(
            f"{path}: cannot tell the format from the suffix '{suffix}' (known: "
            f"{', '.join(sorted(SUFFIXES))}); set the format explicitly"
        )
    return SUFFIXES[suffix]


def read_frames(
    path: str | os.PathLike[str], fmt: str = "auto", dim: int = 3, time_key: str = "time"
) -> list[Frame]:
    """All frames of a file, in file order; errors name the file (and the frame)."""
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MDAnalysis/ASE chatter about guessed attributes
            frames = _READERS[fmt](path, time_key)
    except TrajectoryError:
        raise
    except Exception as exc:  # the libraries' own parse errors
        raise TrajectoryError(f"{path}: cannot be read as {fmt} ({exc})") from exc
    if not frames:
        raise TrajectoryError(f"{path}: holds no frames")
    return [_to_dim(path, k, f, dim) for k, f in enumerate(frames)]


def _to_dim(path: Path, k: int, frame: Frame, dim: int) -> Frame:
    """Keep the first `dim` axes; a 2D system stored in 3D files must have flat z."""
    if frame.positions.shape[1] == dim:
        return frame
    if dim == 2 and frame.positions.shape[1] == 3:
        z = frame.positions[:, 2]
        if np.ptp(z) > 1e-6 * max(1.0, float(frame.box[0])):
            raise TrajectoryError(
                f"{path}, frame {k}: dim=2 but the z coordinates are not constant"
            )
        frame.positions = frame.positions[:, :2]
        frame.box = frame.box[:2]
        return frame
    raise TrajectoryError(
        f"{path}, frame {k}: the file holds {frame.positions.shape[1]}D positions, but dim={dim}"
    )


def _orthorhombic(path: Path, k: int, angles: np.ndarray) -> None:
    if not np.allclose(angles, 90.0, atol=1e-6):
        raise TrajectoryError(
            f"{path}, frame {k}: a triclinic box (angles {np.round(angles, 3).tolist()}); "
            "only orthorhombic boxes are supported"
        )


def _mdanalysis_reads(path: Path) -> bool:
    """Whether MDAnalysis reads the dump right: TIMESTEP first, and an ATOMS line with id,
    type and x y z columns, or xu yu zu without image flags (it would add them again)."""
    with open(path) as f:
        head = [f.readline().strip() for _ in range(12)]
    if head[0] != "ITEM: TIMESTEP":
        return False
    atoms = next((line for line in head if line.startswith("ITEM: ATOMS")), "")
    columns = set(atoms.split()[2:])
    unwrapped = {"xu", "yu", "zu"} <= columns and not columns & {"ix", "iy", "iz"}
    return {"id", "type"} <= columns and ({"x", "y", "z"} <= columns or unwrapped)


def _lammps_dump(path: Path, time_key: str) -> list[Frame]:
    # LAMMPS writes dumps without an id column and 2D dumps without z columns, both
    # legitimate (published data sets come so), which MDAnalysis refuses (ASE the 2D ones);
    # and MDAnalysis 2.11 misplaces scaled coordinates (subtracts the box's lower corner
    # twice, adds image flags to the fractions: its issues #4788, #5138) and adds image flags
    # to unwrapped ones. We parse those dumps ourselves; the rest stays with MDAnalysis, the
    # well-kept reader.
    if not _mdanalysis_reads(path):
        from glassml.data.lammps_dump import read_lammps_dump

        return read_lammps_dump(path)
    import MDAnalysis as mda

    def universe(unwrap: bool):
        return mda.Universe(
            str(path), format="LAMMPSDUMP", unwrap_images=unwrap, additional_columns=["type"]
        )

    try:
        u, images = universe(True), True
    except ValueError as exc:
        if "image flag" not in str(exc):
            raise
        u, images = universe(False), False
    convention = u.trajectory.lammps_coordinate_convention
    unwrapped = images or convention in ("unwrapped", "scaled_unwrapped")
    frames = []
    for k in range(len(u.trajectory)):
        try:
            ts = u.trajectory[k]
        except ValueError as exc:  # e.g. "Number of atoms in trajectory changed"
            raise TrajectoryError(f"{path}, frame {k}: {exc}") from exc
        _orthorhombic(path, k, ts.dimensions[3:])
        labels = np.asarray(ts.data["type"]).astype(np.int64).astype(str)
        frames.append(
            Frame(
                positions=np.asarray(ts.positions, dtype=np.float64),
                labels=labels,
                box=np.asarray(ts.dimensions[:3], dtype=np.float64),
                unwrapped=unwrapped,
                step=int(ts.data["step"]),
            )
        )
    return frames


def _from_ase(path: Path, atoms, k: int, time_key: str, labels: np.ndarray) -> Frame:
    cell = atoms.cell
    if cell.rank < 2 or not all(atoms.pbc[: cell.rank]):
        raise TrajectoryError(f"{path}, frame {k}: no periodic cell (Lattice/pbc) is stored")
    _orthorhombic(path, k, cell.angles())
    origin = np.asarray(getattr(atoms, "celldisp", np.zeros((3, 1)))).reshape(-1)[:3]
    step = atoms.info.get("step", atoms.info.get("timestep"))
    time = atoms.info.get(time_key)
    return Frame(
        positions=atoms.get_positions() - origin,
        labels=labels,
        box=np.asarray(cell.lengths(), dtype=np.float64),
        unwrapped=False,
        step=None if step is None else int(step),
        time=None if time is None else float(time),
    )


def _extxyz(path: Path, time_key: str) -> list[Frame]:
    import ase.io

    out = []
    for k, atoms in enumerate(ase.io.iread(str(path), index=":", format="extxyz")):
        labels = np.asarray(atoms.arrays.get("type", atoms.get_chemical_symbols())).astype(str)
        out.append(_from_ase(path, atoms, k, time_key, labels))
    return out


def _lammps_data(path: Path, time_key: str) -> list[Frame]:
    import ase.io

    atoms = ase.io.read(str(path), format="lammps-data", atom_style="atomic")
    order = np.argsort(atoms.arrays["id"])
    atoms = atoms[order]
    return [_from_ase(path, atoms, 0, time_key, np.asarray(atoms.arrays["type"]).astype(str))]


def _gsd(path: Path, time_key: str) -> list[Frame]:
    import gsd.hoomd

    out = []
    with gsd.hoomd.open(str(path), mode="r") as traj:
        for k, frame in enumerate(traj):
            box = np.asarray(frame.configuration.box, dtype=np.float64)
            if np.any(np.abs(box[3:]) > 1e-12):
                raise TrajectoryError(
                    f"{path}, frame {k}: a triclinic box (tilts {box[3:].tolist()}); "
                    "only orthorhombic boxes are supported"
                )
            dim = int(frame.configuration.dimensions)
            types = np.asarray(frame.particles.types)
            typeid = np.asarray(frame.particles.typeid)
            if typeid.size and typeid.max() >= len(types):
                raise TrajectoryError(f"{path}, frame {k}: typeid beyond particles.types")
            x = np.asarray(frame.particles.position, dtype=np.float64)[:, :dim]
            # HOOMD stores image flags in frame 0 and, by default, nowhere else: a later
            # frame without its own chunk would get frame 0's flags back from gsd
            images = traj.file.chunk_exists(frame=k, name="particles/image")
            if images:
                x = x + np.asarray(frame.particles.image)[:, :dim] * box[:dim]
            out.append(
                Frame(
                    positions=x,
                    labels=types[typeid].astype(str),
                    box=box[:dim],
                    unwrapped=bool(images),
                    step=int(frame.configuration.step),
                )
            )
    return out


_READERS = {
    "lammps-dump": _lammps_dump,
    "lammps-data": _lammps_data,
    "extxyz": _extxyz,
    "gsd": _gsd,
}
