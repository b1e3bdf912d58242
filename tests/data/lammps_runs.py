"""Iso-configurational runs of the KA mixture written by LAMMPS itself (text dumps), the
input of the import tests: per configuration an initial frame and n_iso runs from it with
fresh velocities, frames at the output steps.

LAMMPS runs in a child process: its Python module loads liblammps with RTLD_GLOBAL, and
once loaded, the voro++ inside it takes the place of freud's, whose Voronoi then crashes
the process (freud descriptors of later tests).
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np

from glassml.simulate.lammps_ref import load_lammps

# KA 80:20 at rho = 1.2 (REFERENCE.md), cut-off 2.5 sigma_ab, shifted
PAIRS = ((1, 1, 1.0, 1.0), (1, 2, 1.5, 0.8), (2, 2, 0.5, 0.88))
DT = 0.005


def _setup(lmp, box: float, n_a: int, n_b: int, seed: int) -> None:
    lmp.commands_list(
        [
            "units lj",
            "atom_style atomic",
            "boundary p p p",
            "atom_modify map array",
            f"region box block 0 {box} 0 {box} 0 {box}",
            "create_box 2 box",
            f"create_atoms 1 random {n_a} {seed} box overlap 0.7",
            f"create_atoms 2 random {n_b} {seed + 1} box overlap 0.7",
            "mass * 1.0",
        ]
    )
    _potential(lmp)


def _potential(lmp) -> None:
    lmp.command("pair_style lj/cut 2.5")
    lmp.command("pair_modify shift yes")
    for a, b, eps, sig in PAIRS:
        lmp.command(f"pair_coeff {a} {b} {eps} {sig} {2.5 * sig}")
    lmp.commands_list(["neighbor 0.3 bin", "neigh_modify every 1 delay 0 check yes"])
    lmp.command(f"timestep {DT}")


@functools.cache
def lammps_available() -> bool:
    """Whether LAMMPS loads, asked in a child process (see the module docstring)."""
    code = "import sys; from glassml.simulate.lammps_ref import load_lammps as f; "
    code += "sys.exit(f() is None)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def in_child(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a fresh child process (LAMMPS never enters this one)."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args, kwargs)


def write_iso_set(out: Path, *args, **kwargs) -> Path:
    """`_write_iso_set` in a child process."""
    return in_child(_write_iso_set, out, *args, **kwargs)


def _write_iso_set(
    out: Path,
    n_configs: int = 2,
    n_iso: int = 3,
    n: int = 256,
    temperature: float = 1.0,
    steps: tuple[int, ...] = (20, 100, 300),
    columns: str = "x y z ix iy iz",
    seed: int = 1,
) -> Path:
    """out/config_<k>/initial.dump and run_<r>.dump (frames at step 0 and `steps`).

    `columns`: the coordinate columns of the dump ('x y z ix iy iz': wrapped with image
    flags; 'x y z': wrapped only; 'xu yu zu': unwrapped).
    """
    lammps = load_lammps()
    if lammps is None:
        raise RuntimeError("LAMMPS cannot be loaded")
    n_b = n // 5
    box = (n / 1.2) ** (1 / 3)
    out.mkdir(parents=True, exist_ok=True)
    chain = lammps(cmdargs=["-log", "none", "-screen", "none"])
    _setup(chain, box, n - n_b, n_b, seed)
    chain.commands_list(
        [
            "minimize 1e-4 1e-6 1000 10000",
            "reset_timestep 0",
            f"velocity all create {temperature} {seed + 2} dist gaussian",
            f"fix eq all nvt temp {temperature} {temperature} 0.5",
            "run 400",
        ]
    )

    def dump(path: Path, append: bool = False) -> str:
        extra = " append yes" if append else ""
        return f"write_dump all custom {path} id type {columns} modify sort id{extra}"

    for k in range(n_configs):
        folder = out / f"config_{k}"
        folder.mkdir(exist_ok=True)
        chain.command("run 200")  # decorrelate
        chain.command("reset_timestep 0")
        chain.command(dump(folder / "initial.dump"))
        state = folder / "state.data"
        chain.command(f"write_data {state} nocoeff")
        for r in range(n_iso):
            run = lammps(cmdargs=["-log", "none", "-screen", "none"])
            run.commands_list(["units lj", "atom_style atomic", "atom_modify map array"])
            run.command(f"read_data {state}")
            _potential(run)
            path = folder / f"run_{r}.dump"
            run.commands_list(
                [
                    f"velocity all create {temperature} {1000 * (k + 1) + r} dist gaussian",
                    "fix nve all nve",
                    "run 0",
                    dump(path),
                ]
            )
            done = 0
            for s in steps:
                run.command(f"run {s - done} pre no post no")
                run.command(dump(path, append=True))
                done = s
            run.close()
        state.unlink()
    chain.close()
    return out


def read_frames(path: Path) -> list[dict[str, np.ndarray]]:
    """The frames of a dump file parsed independently of the importer (numpy only):
    step, box edges, ids, types and the coordinate columns by name."""
    lines = path.read_text().splitlines()
    frames, i = [], 0
    while i < len(lines):
        assert lines[i].startswith("ITEM: TIMESTEP")
        step = int(lines[i + 1])
        n = int(lines[i + 3])
        bounds = np.array([[float(v) for v in lines[i + 5 + d].split()[:2]] for d in range(3)])
        cols = lines[i + 8].split()[2:]
        data = np.array([[float(v) for v in ln.split()] for ln in lines[i + 9 : i + 9 + n]])
        frame = {c: data[:, j] for j, c in enumerate(cols)}
        frame["step"] = step
        frame["box"] = bounds[:, 1] - bounds[:, 0]
        frames.append(frame)
        i += 9 + n
    return frames


def write_data_file(path: Path, positions: np.ndarray, types: np.ndarray, box: np.ndarray) -> None:
    """A LAMMPS data file written by LAMMPS (write_data) for this KA configuration."""
    from glassml.simulate.lammps_ref import lammps_system
    from glassml.simulate.potential import LJTable

    table = LJTable.from_lists([[1, 1.5], [1.5, 0.5]], [[1, 0.8], [0.8, 0.88]], 2.5)
    lmp = lammps_system(load_lammps(), positions, np.zeros_like(positions), types, box, table)
    lmp.command(f"write_data {path}")
    lmp.close()


def lammps_forces(positions: np.ndarray, types: np.ndarray, box: np.ndarray):
    """Per-atom energies and forces of the KA potential, computed by LAMMPS."""
    from glassml.simulate.lammps_ref import lammps_energy_forces, lammps_system
    from glassml.simulate.potential import LJTable

    table = LJTable.from_lists([[1, 1.5], [1.5, 0.5]], [[1, 0.8], [0.8, 0.88]], 2.5)
    lmp = lammps_system(load_lammps(), positions, np.zeros_like(positions), types, box, table)
    energies, forces = lammps_energy_forces(lmp)
    lmp.close()
    return energies, forces


def run_input_script(script: Path, folder: Path, variables: dict[str, object]) -> None:
    """Run a LAMMPS input script in `folder` (its relative paths land there)."""
    import os

    os.chdir(folder)
    args = ["-log", "none", "-screen", "none"]
    for name, value in variables.items():
        args += ["-var", name, str(value)]
    lmp = load_lammps()(cmdargs=args)
    lmp.file(str(script))
    lmp.close()
