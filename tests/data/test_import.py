"""`glassml-data import` on trajectories written by the real codes: LAMMPS (text dumps with
image flags, wrapped only, unwrapped, without ids, 2D without z), ASE (extended XYZ) and gsd
(GSD as HOOMD writes it).
Propensities are checked against a numpy computation from the raw frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from glassml.data.importer import ImportSpec, import_dataset, spec_from_config
from glassml.data.trajectory import TrajectoryError

from ..hydra_helpers import QUICK_TRAIN, compose_config
from .lammps_runs import (
    DT,
    in_child,
    lammps_available,
    lammps_forces,
    read_frames,
    run_input_script,
    write_iso_set,
)

pytestmark = pytest.mark.skipif(not lammps_available(), reason="LAMMPS is not installed")

SIGMA = np.array([[1.0, 0.8], [0.8, 0.88]])
N_CONFIGS, N_ISO, STEPS = 4, 3, (20, 100, 300)


@pytest.fixture(scope="module")
def lammps_sets(tmp_path_factory) -> dict[str, Path]:
    """The same LAMMPS runs dumped three ways (LAMMPS is deterministic given the seeds)."""
    base = tmp_path_factory.mktemp("lammps")
    columns = {"images": "x y z ix iy iz", "wrapped": "x y z", "unwrapped": "xu yu zu"}
    return {
        name: write_iso_set(base / name, N_CONFIGS, N_ISO, steps=STEPS, columns=cols)
        for name, cols in columns.items()
    }


def import_section(layout: str) -> dict:
    cfg = compose_config("data", ["command=import", f"import={layout}"])
    return OmegaConf.to_container(cfg["import"])


def spec(root: Path, out: Path, **kw) -> ImportSpec:
    section = {**import_section("lammps"), "root": str(root), "output_dir": str(out), **kw}
    return spec_from_config(section)


def raw_unwrapped(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unwrapped positions [n_frames, N, 3] (x + ix L), types and box, parsed with numpy."""
    frames = read_frames(path)
    box = frames[0]["box"]
    x = np.stack(
        [
            np.stack([f[c] + f["i" + c] * box[d] for d, c in enumerate("xyz")], axis=1)
            for f in frames
        ]
    )
    return x, frames[0]["type"].astype(int) - 1, box


def expected_targets(folder: Path) -> dict[str, np.ndarray]:
    """md_prop, md_prop_cage and bb_prop of one configuration from the raw frames, by
    brute force over all pairs (the definitions of REFERENCE.md / glassml-simulate)."""
    md, cage, bb = [], [], []
    for r in range(N_ISO):
        x, types, box = raw_unwrapped(folder / f"run_{r}.dump")
        x0 = x[0]
        sig = SIGMA[types[:, None], types[None, :]]
        sep0 = x0[:, None] - x0[None]
        sep0 -= box * np.rint(sep0 / box)
        r0 = np.linalg.norm(sep0, axis=-1)
        off = ~np.eye(len(types), dtype=bool)
        cage_nb = (r0 < 1.45 * sig) & off
        bonds = (r0 < 1.4 * sig) & off
        d = x[1:] - x0
        md.append(np.linalg.norm(d, axis=-1))
        mean_nb = np.einsum("ij,tjd->tid", cage_nb, d) / cage_nb.sum(1)[None, :, None]
        cage.append(np.linalg.norm(d - mean_nb, axis=-1))
        sep = x[1:, :, None] - x[1:, None]
        sep -= box * np.rint(sep / box)
        broken = (np.linalg.norm(sep, axis=-1) > 1.8 * sig) & bonds
        bb.append(broken.sum(-1) / np.maximum(bonds.sum(1), 1))
    return {"md_prop": np.mean(md, 0), "md_prop_cage": np.mean(cage, 0), "bb_prop": np.mean(bb, 0)}


@pytest.fixture(scope="module")
def imported(lammps_sets, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("imported")
    return {
        name: import_dataset(spec(root, out / name), progress=False)
        for name, root in lammps_sets.items()
    }


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_imported_propensities_equal_the_raw_frames(lammps_sets, imported) -> None:
    for k in (0, N_CONFIGS - 1):
        want = expected_targets(lammps_sets["images"] / f"config_{k}")
        got = load(imported["images"] / f"config_{k:04d}.npz")
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, atol=2e-4, err_msg=key)
        assert got["md_prop_runs"].shape == (N_ISO, len(STEPS), 256)
        np.testing.assert_allclose(got["times"], np.array(STEPS) * DT)
        assert np.all(got["md_prop"][-1] > 0)
        assert got["types"].tolist().count(1) == 256 // 5
        assert np.all((got["initial_positions"] >= 0) & (got["initial_positions"] < got["box"]))


def test_wrapped_and_unwrapped_dumps_give_the_same_dataset(imported) -> None:
    for name in ("wrapped", "unwrapped"):
        for k in range(N_CONFIGS):
            a = load(imported["images"] / f"config_{k:04d}.npz")
            b = load(imported[name] / f"config_{k:04d}.npz")
            for key in ("md_prop", "md_prop_cage", "bb_prop", "initial_positions"):
                np.testing.assert_allclose(a[key], b[key], atol=2e-5, err_msg=f"{name} {key}")


def drop_columns(src: Path, dst: Path, drop: set[str]) -> None:
    """Copy the dump `src` to `dst` without the ATOMS columns in `drop`."""
    out, keep = [], None
    for line in src.read_text().splitlines():
        if line.startswith("ITEM:"):
            columns = line.split()[2:] if line.startswith("ITEM: ATOMS") else None
            keep = None if columns is None else [i for i, c in enumerate(columns) if c not in drop]
            if keep is not None:
                line = "ITEM: ATOMS " + " ".join(columns[i] for i in keep)
        elif keep is not None:
            values = line.split()
            line = " ".join(values[i] for i in keep)
        out.append(line)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(out) + "\n")


def test_id_less_and_2d_dumps(lammps_sets, imported, tmp_path) -> None:
    """LAMMPS dumps without the id column (atoms in file order, here id order), and 2D ones
    without z columns, import as the dumps with ids do."""
    root = lammps_sets["images"]
    for name, drop in (("no_id", {"id"}), ("2d", {"id", "z", "iz"})):
        for dump in root.glob("config_*/*.dump"):
            drop_columns(dump, tmp_path / name / dump.relative_to(root), drop)
    out = import_dataset(spec(tmp_path / "no_id", tmp_path / "out_no_id"), progress=False)
    for k in range(N_CONFIGS):
        a = load(imported["images"] / f"config_{k:04d}.npz")
        b = load(out / f"config_{k:04d}.npz")
        for key in ("types", "md_prop", "md_prop_cage", "bb_prop", "initial_positions", "box"):
            np.testing.assert_allclose(a[key], b[key], atol=2e-5, err_msg=key)

    out = import_dataset(spec(tmp_path / "2d", tmp_path / "out_2d", dim=2), progress=False)
    got = load(out / "config_0002.npz")
    disp = []
    for r in range(N_ISO):
        x, _, _ = raw_unwrapped(root / "config_2" / f"run_{r}.dump")
        disp.append(np.linalg.norm(x[1:, :, :2] - x[0, :, :2], axis=-1))
    np.testing.assert_allclose(got["md_prop"], np.mean(disp, 0), atol=2e-4)
    assert got["box"].shape == (2,) and got["initial_positions"].shape == (256, 2)


def test_extxyz_and_gsd_written_by_ase_and_gsd(lammps_sets, imported, tmp_path) -> None:
    import ase
    import ase.io
    import gsd.hoomd

    src = lammps_sets["images"] / "config_1"
    for fmt in ("extxyz", "gsd", "gsd_first_image_only"):
        folder = tmp_path / fmt / "config_0"
        folder.mkdir(parents=True)
        for name in ["initial", *(f"run_{r}" for r in range(N_ISO))]:
            x, types, box = raw_unwrapped(src / f"{name}.dump")
            steps = [0] if name == "initial" else [0, *STEPS]
            if fmt == "extxyz":
                images = []
                for xi, s in zip(x, steps, strict=True):
                    atoms = ase.Atoms(
                        symbols=["X"] * len(types),  # LJ particles: the type column names them
                        positions=np.mod(xi, box),  # wrapped: no image flags in extxyz
                        cell=box,
                        pbc=True,
                    )
                    atoms.new_array("type", types + 1)
                    atoms.info["time"] = s * DT
                    images.append(atoms)
                ase.io.write(folder / f"{name}.xyz", images, format="extxyz")
                continue
            with gsd.hoomd.open(folder / f"{name}.gsd", mode="w") as traj:
                for k, (xi, s) in enumerate(zip(x, steps, strict=True)):
                    frame = gsd.hoomd.Frame()
                    frame.configuration.step = s
                    frame.configuration.box = [*box, 0, 0, 0]
                    frame.particles.N = len(types)
                    frame.particles.types = ["A", "B"]
                    frame.particles.typeid = types.astype(np.uint32)
                    image = np.floor((xi + box / 2) / box)  # HOOMD: box centred at 0
                    frame.particles.position = (xi - image * box).astype(np.float32)
                    if fmt == "gsd" or k == 0:
                        frame.particles.image = image.astype(np.int32)
                    traj.append(frame)
        cfg = "extxyz" if fmt == "extxyz" else "gsd"
        section = import_section(cfg)
        section.update(root=str(tmp_path / fmt), output_dir=str(tmp_path / f"out_{fmt}"))
        out = import_dataset(spec_from_config(section), progress=False)
        got = load(out / "config_0000.npz")
        want = load(imported["images"] / "config_0001.npz")
        for key in ("md_prop", "md_prop_cage", "bb_prop"):
            np.testing.assert_allclose(got[key], want[key], atol=2e-5, err_msg=f"{fmt} {key}")


def test_resume_skips_finished_files_and_redoes_broken_ones(lammps_sets, tmp_path) -> None:
    s = spec(lammps_sets["images"], tmp_path / "out")
    out = import_dataset(s, progress=False)
    stamp = (out / "config_0001.npz").stat().st_mtime_ns
    (out / "config_0002.npz").write_bytes(b"truncated")
    import_dataset(s, progress=False)
    assert (out / "config_0001.npz").stat().st_mtime_ns == stamp
    assert load(out / "config_0002.npz")["md_prop"].shape == (len(STEPS), 256)
    with pytest.raises(ValueError, match="import.cage_radius"):
        import_dataset(spec(lammps_sets["images"], tmp_path / "out", cage_radius=1.3))


def test_imported_lammps_dataset_trains(imported, tmp_path) -> None:
    from glassml.training.train import train

    cfg = compose_config(
        "train",
        [
            "dataset=generated",
            f"dataset.root={imported['images']}",
            *QUICK_TRAIN,
            "trainer.fast_dev_run=true",
        ],
        tmp_path,
    )
    metrics = train(cfg)
    assert any(k.startswith("test/") for k in metrics)


def test_documented_lammps_script_makes_an_importable_set(tmp_path) -> None:
    """scripts/lammps/ka_iso_runs.in (docs/import.md) writes what import.lammps reads."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "lammps" / "ka_iso_runs.in"
    runs = tmp_path / "runs"
    runs.mkdir()
    in_child(run_input_script, script, runs, {"nconf": 2, "niso": 2, "nsteps": 60})
    got = load(
        import_dataset(spec(runs, tmp_path / "data", n_iso=2), progress=False) / "config_0001.npz"
    )
    np.testing.assert_allclose(got["times"], [0.1, 0.2, 0.3])
    assert got["md_prop"].shape == (3, 256) and np.all(np.diff(got["md_prop"].mean(1)) > 0)


def test_inherent_structure_is_a_minimum_for_lammps(lammps_sets, tmp_path) -> None:
    """Our FIRE on the configured potential: LAMMPS finds no force left, same energy."""
    s = spec(lammps_sets["images"], tmp_path / "is", configs="config_0", inherent=True)
    got = load(import_dataset(s, progress=False) / "config_0000.npz")
    x = got["initial_positions_inherent"]
    energies, forces = in_child(lammps_forces, x, got["types"], got["box"])
    assert np.abs(forces).max() < 1e-5
    np.testing.assert_allclose(energies.mean(), got["inherent_energy"], rtol=1e-8)
    assert np.abs(x - got["initial_positions"]).max() > 0.01  # it did move


# ------------------------------------------------------------------------ bad input


def broken_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_frame(path: Path, frame: int, edit) -> None:
    """Apply `edit(lines)` to the lines of one frame of a dump, in place."""
    lines = path.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("ITEM: TIMESTEP")]
    end = starts[frame + 1] if frame + 1 < len(starts) else len(lines)
    lines[starts[frame] : end] = edit(lines[starts[frame] : end])
    path.write_text("\n".join(lines) + "\n")


def test_missing_runs_and_frames_are_named(lammps_sets, tmp_path) -> None:
    root = lammps_sets["images"]
    with pytest.raises(TrajectoryError, match=r"config_0: 3 run files .* import.n_iso=4"):
        import_dataset(spec(root, tmp_path / "a", n_iso=4), progress=False)
    with pytest.raises(TrajectoryError, match=r"run_0\.dump: no frame at t = 0\.7"):
        import_dataset(spec(root, tmp_path / "b", times=[0.1, 0.7]), progress=False)
    copy = broken_copy(root, tmp_path / "noinit")
    (copy / "config_2" / "initial.dump").unlink()
    with pytest.raises(TrajectoryError, match=r"config_2/initial\.dump: no such file"):
        import_dataset(spec(copy, tmp_path / "c"), progress=False)
    copy = broken_copy(root, tmp_path / "norun")
    for p in (copy / "config_1").glob("run_*"):
        p.unlink()
    with pytest.raises(TrajectoryError, match=r"config_1: no run files"):
        import_dataset(spec(copy, tmp_path / "d"), progress=False)


def test_initial_frame_from_the_runs_and_runs_of_another_configuration(
    lammps_sets, imported, tmp_path
) -> None:
    root = lammps_sets["images"]
    out = import_dataset(spec(root, tmp_path / "a", initial=None), progress=False)
    for k in range(N_CONFIGS):
        a = load(out / f"config_{k:04d}.npz")
        b = load(imported["images"] / f"config_{k:04d}.npz")
        np.testing.assert_allclose(a["md_prop"], b["md_prop"], atol=1e-5)
    copy = broken_copy(root, tmp_path / "swap")
    shutil.copy(root / "config_0" / "initial.dump", copy / "config_1" / "initial.dump")
    with pytest.raises(TrajectoryError, match=r"config_1/run_0\.dump, frame 0 \(t = 0\) differs"):
        import_dataset(spec(copy, tmp_path / "b"), progress=False)


def test_changing_n_types_and_box_are_named(lammps_sets, tmp_path) -> None:
    root = lammps_sets["images"]
    copy = broken_copy(root, tmp_path / "n")
    run = copy / "config_0" / "run_1.dump"
    edit_frame(run, 2, lambda ls: [*ls[:3], "255", *ls[4:-1]])  # one atom less
    with pytest.raises(TrajectoryError, match=r"run_1\.dump, frame 2: .*(N must not|changed)"):
        import_dataset(spec(copy, tmp_path / "o1"), progress=False)

    with pytest.raises(TrajectoryError, match=r"initial\.dump: particle type\(s\) \['2'\]"):
        import_dataset(spec(root, tmp_path / "o2", types={"1": 0}), progress=False)

    copy = broken_copy(root, tmp_path / "box")
    run = copy / "config_0" / "run_2.dump"
    edit_frame(run, 1, lambda ls: [*ls[:5], "0 6.5", *ls[6:]])
    with pytest.raises(TrajectoryError, match=r"run_2\.dump, frame 1: box .* differs"):
        import_dataset(spec(copy, tmp_path / "o3"), progress=False)


def test_wrapped_frames_too_far_apart_are_refused(lammps_sets, tmp_path) -> None:
    copy = broken_copy(lammps_sets["wrapped"], tmp_path / "far")
    run = copy / "config_3" / "run_0.dump"
    box = read_frames(run)[0]["box"][0]

    def jump(lines: list[str]) -> list[str]:  # particle 5 (row 14) jumps half a box along x
        cols = lines[13].split()
        cols[2] = f"{(float(cols[2]) + 0.5 * box) % box:.6g}"
        return [*lines[:13], " ".join(cols), *lines[14:]]

    edit_frame(run, 3, jump)
    with pytest.raises(TrajectoryError, match=r"run_0\.dump, frame 3 .* particle 4 moved"):
        import_dataset(spec(copy, tmp_path / "o"), progress=False)
    # the same jump with image flags is unambiguous: accepted
    assert import_dataset(spec(lammps_sets["images"], tmp_path / "ok"), progress=False)


def test_command_line_forms() -> None:
    from glassml.cli.data import translate_argv

    assert translate_argv(["import", "gsd", "import.root=r"]) == [
        "command=import",
        "import=gsd",
        "import.root=r",
    ]
    assert translate_argv(["download", "bapst"]) == ["download=bapst"]
