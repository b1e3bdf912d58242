"""LAMMPS text dumps read by our own parser: the ones MDAnalysis refuses or misreads.

LAMMPS legitimately writes dumps that MDAnalysis (2.11) refuses: without an `id` column
("No id column found in dump file"), or of a 2D system whose ATOMS line names x and y
only (ASE's reader refuses these too). Published data sets come in that form, e.g. the
KA 2D files of the GlassBench authors. MDAnalysis also misplaces scaled coordinates (its
issues #4788, #5138) and adds image flags to unwrapped ones. glassml.data.trajectory
reads those dumps here and the rest with MDAnalysis.

The format (docs.lammps.org/dump.html), frames one after the other:

    ITEM: TIMESTEP / step / ITEM: NUMBER OF ATOMS / N / ITEM: BOX BOUNDS pp pp pp /
    three lines "lo hi" / ITEM: ATOMS <column names> / N lines of values

(`ITEM: UNITS` and `ITEM: TIME` may precede TIMESTEP: dump_modify units/time yes). Atoms
are kept in file order, or sorted by id when there is an id column (as MDAnalysis does).
Positions as the MDAnalysis path gives them for x and xu: relative to the box's lower
corner (x - xlo; xs * L for scaled ones, as xs = (x - xlo) / L), with the image flags
added to wrapped coordinates (x, xs) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glassml.data.trajectory import Frame, TrajectoryError

# LAMMPS coordinate column styles in MDAnalysis' order of preference (x, xs, xu, xsu)
CONVENTIONS = (("x", "y", "z"), ("xs", "ys", "zs"), ("xu", "yu", "zu"), ("xsu", "ysu", "zsu"))
IMAGE_FLAGS = ("ix", "iy", "iz")


@dataclass(frozen=True)
class Layout:
    """Which ATOMS columns hold what (indices into a row)."""

    coords: tuple[int, ...]
    images: tuple[int, ...] | None  # only for wrapped coordinates
    scaled: bool
    unwrapped: bool  # continuous in time: unwrapped coordinates or image flags
    label: int
    numeric_label: bool  # `type` (an integer), else `element` (a name)
    ids: int | None


def layout(columns: list[str], where: str) -> Layout:
    col = {c: i for i, c in enumerate(columns)}
    names = next((c for c in CONVENTIONS if c[0] in col and c[1] in col), None)
    if names is None:
        raise TrajectoryError(
            f"{where}: the ATOMS line '{' '.join(columns)}' has no coordinate columns "
            "(x y [z], xs ys [zs], xu yu [zu] or xsu ysu [zsu])"
        )
    axes = names if names[2] in col else names[:2]
    wrapped = not names[0].endswith("u")
    flags = IMAGE_FLAGS[: len(axes)]
    images = tuple(col[f] for f in flags) if wrapped and all(f in col for f in flags) else None
    label = "type" if "type" in col else "element" if "element" in col else None
    if label is None:
        raise TrajectoryError(
            f"{where}: the ATOMS line '{' '.join(columns)}' has neither a type nor an "
            "element column: particle labels are needed"
        )
    return Layout(
        coords=tuple(col[a] for a in axes),
        images=images,
        scaled=names[0].startswith("xs"),
        unwrapped=not wrapped or images is not None,
        label=col[label],
        numeric_label=label == "type",
        ids=col.get("id"),
    )


def read_lammps_dump(path: Path) -> list[Frame]:
    """All frames in file order; errors name the file, frame and, where one is at fault,
    the line."""
    lines = path.read_text().splitlines()
    frames: list[Frame] = []
    first_columns: list[str] = []
    i = skip_blank(lines, 0)
    while i < len(lines):
        k = len(frames)
        frame, columns, i = read_frame(path, k, lines, i)
        if k == 0:
            first_columns = columns
        elif frame.n != frames[0].n:
            raise TrajectoryError(
                f"{path}, frame {k}: {frame.n} atoms, but frame 0 has {frames[0].n}: the "
                "number of atoms changed (N must not change)"
            )
        elif columns != first_columns:
            raise TrajectoryError(
                f"{path}, frame {k}: ATOMS columns '{' '.join(columns)}' differ from frame "
                f"0's '{' '.join(first_columns)}'"
            )
        frames.append(frame)
        i = skip_blank(lines, i)
    return frames


def skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


@dataclass
class Header:
    """The items before a frame's atom lines; `start`: index of the first atom line."""

    step: int
    time: float | None
    n: int
    lo: np.ndarray
    edges: np.ndarray
    columns: list[str]
    start: int


def read_header(where: str, lines: list[str], i: int) -> Header:
    def line(j: int) -> str:
        if j >= len(lines):
            raise TrajectoryError(f"{where}: the file ends inside the frame (truncated)")
        return lines[j]

    def number(j: int, kind: type = float):
        text = line(j).strip()
        try:
            return kind(text)
        except ValueError:
            raise TrajectoryError(
                f"{where}, line {j + 1}: expected a number after '{lines[j - 1].strip()}', "
                f"got '{text[:40]}'"
            ) from None

    step = time = n = box = None
    while True:
        item = line(i).strip()
        if not item.startswith("ITEM:"):
            raise TrajectoryError(f"{where}, line {i + 1}: expected 'ITEM: ...', got '{item[:40]}'")
        name = item[len("ITEM:") :].strip()
        if name == "TIMESTEP":
            step, i = number(i + 1, int), i + 2
        elif name == "TIME":
            time, i = number(i + 1), i + 2
        elif name == "UNITS":
            i += 2
        elif name == "NUMBER OF ATOMS":
            n, i = number(i + 1, int), i + 2
        elif name.startswith("BOX BOUNDS"):
            box, i = read_box(where, name, [line(j) for j in range(i + 1, i + 4)], i + 1), i + 4
        elif name.startswith("ATOMS"):
            break
        else:
            raise TrajectoryError(f"{where}, line {i + 1}: unknown section '{item[:40]}'")
    given = {"TIMESTEP": step, "NUMBER OF ATOMS": n, "BOX BOUNDS": box}
    missing = [item for item, value in given.items() if value is None]
    if missing:
        raise TrajectoryError(f"{where}: no ITEM: {', '.join(missing)} before ITEM: ATOMS")
    if n <= 0:
        raise TrajectoryError(f"{where}: NUMBER OF ATOMS is {n}")
    return Header(step, time, n, *box, columns=name.split()[1:], start=i + 1)


def read_frame(path: Path, k: int, lines: list[str], i: int) -> tuple[Frame, list[str], int]:
    """The frame starting at line i: (frame, ATOMS column names, index after it)."""
    where = f"{path}, frame {k}"
    head = read_header(where, lines, i)
    cols = layout(head.columns, where)
    table = atom_table(where, lines, head.start, head.n, head.columns)

    def values(c: int, kind: type = float) -> np.ndarray:
        try:
            return table[:, c].astype(kind)
        except ValueError:  # find the culprit
            out, what = [], "an integer" if kind is np.int64 else "a number"
            for r, token in enumerate(table[:, c]):
                try:
                    out.append(kind(token))
                except ValueError:
                    raise TrajectoryError(
                        f"{where}, line {head.start + r + 1}: '{token}' in column "
                        f"'{head.columns[c]}' is not {what}"
                    ) from None
            return np.asarray(out, dtype=kind)

    d = len(cols.coords)
    x = np.stack([values(c) for c in cols.coords], axis=1)
    if not np.all(np.isfinite(x)):
        r = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise TrajectoryError(f"{where}, line {head.start + r + 1}: a coordinate is not finite")
    x = x * head.edges[:d] if cols.scaled else x - head.lo[:d]
    if cols.images is not None:
        x += np.stack([values(c, np.int64) for c in cols.images], axis=1) * head.edges[:d]
    labels = table[:, cols.label]
    if cols.numeric_label:
        labels = values(cols.label, np.int64).astype(str)
    if cols.ids is not None:
        ids = values(cols.ids, np.int64)
        if np.unique(ids).size != head.n:
            raise TrajectoryError(f"{where}: atom ids repeat in the id column")
        order = np.argsort(ids)
        x, labels = x[order], labels[order]
    frame = Frame(
        positions=x,
        labels=np.asarray(labels, dtype=str),
        box=head.edges[:d].copy(),
        unwrapped=cols.unwrapped,
        step=head.step,
        time=head.time,
    )
    return frame, head.columns, head.start + head.n


def read_box(where: str, name: str, rows: list[str], first: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower corner, edge lengths) of an orthorhombic box; a tilted one is refused."""
    try:
        bounds = np.array([[float(v) for v in row.split()] for row in rows])
    except ValueError:
        bounds = np.empty(0)
    if "abc" in name.split() or bounds.ndim != 2 or bounds.shape[1] not in (2, 3):
        raise TrajectoryError(
            f"{where}, lines {first + 1}-{first + 3}: expected three 'lo hi' (or 'lo hi tilt') "
            f"box lines after '{name}'"
            + ("; general triclinic boxes are not supported" if "abc" in name.split() else "")
        )
    lo, hi = bounds[:, 0], bounds[:, 1]
    if bounds.shape[1] == 3:
        tilts = bounds[:, 2]
        if np.any(np.abs(tilts) > 1e-9 * np.abs(hi - lo).max()):
            raise TrajectoryError(
                f"{where}: a triclinic box (tilts xy xz yz {tilts.tolist()}); only "
                "orthorhombic boxes are supported"
            )
    if np.any(hi <= lo):
        raise TrajectoryError(f"{where}: box bounds with hi <= lo ({bounds[:, :2].tolist()})")
    return lo, hi - lo


def atom_table(where: str, lines: list[str], start: int, n: int, columns: list[str]) -> np.ndarray:
    """The N atom lines as a string array [N, columns]; wrong counts are named."""
    block = lines[start : start + n]
    for r, row in enumerate(block):
        if row.lstrip().startswith("ITEM:"):
            raise TrajectoryError(
                f"{where}: NUMBER OF ATOMS is {n} but the ATOMS section ends after {r} lines "
                f"(line {start + r + 1})"
            )
    if len(block) < n:
        raise TrajectoryError(
            f"{where}: the file ends after {len(block)} of {n} atom lines (truncated)"
        )
    after = skip_blank(lines, start + n)
    if after < len(lines) and not lines[after].lstrip().startswith("ITEM:"):
        raise TrajectoryError(
            f"{where}: more atom lines than NUMBER OF ATOMS ({n}); line {after + 1} is not "
            "'ITEM: ...'"
        )
    rows = [row.split() for row in block]
    for r, row in enumerate(rows):
        if len(row) != len(columns):
            raise TrajectoryError(
                f"{where}, line {start + r + 1}: {len(row)} values, but the ATOMS line names "
                f"{len(columns)} columns ({' '.join(columns)})"
            )
    return np.array(rows, dtype=str)
