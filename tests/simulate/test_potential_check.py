"""Identifying a dataset's potential: zero forces at inherent structures, and the
configurational temperature of thermal configurations against the thermostat's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from glassml.simulate.fire import fire_minimize
from glassml.simulate.md import LJSystem
from glassml.simulate.potential import LJTable
from glassml.simulate.potential_check import (
    configurational_temperature,
    force_rms,
    pair_derivatives,
)
from glassml.simulate.thermostat import BussiThermostat

from .conftest import TERNARY_EPS, TERNARY_SIG, random_liquid

KA2D = LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, "smooth")
# the 3D ternary "KA2" parameters, which the 2D mixture does not use
KA2_3D = LJTable.from_lists(
    [[1.0, 1.5, 1.25], [1.5, 0.5, 1.0], [1.25, 1.0, 0.75]],
    [[1.0, 0.8, 0.9], [0.8, 0.88, 0.84], [0.9, 0.84, 0.94]],
    2.5,
)


@pytest.mark.parametrize("truncation", ["shift", "smooth"])
def test_pair_derivatives_match_finite_differences(truncation):
    table = LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, truncation)
    r = np.linspace(0.8, 2.0, 25)
    ti, tj = np.zeros(25, int), np.full(25, 2)
    h = 1e-5
    du, d2u = pair_derivatives(table, r, ti, tj)
    up, u0, um = (table.pair_energy(r + s, ti, tj) for s in (h, 0.0, -h))
    np.testing.assert_allclose(du, (up - um) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d2u, (up - 2 * u0 + um) / h**2, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def ka2d_liquid():
    """1000 particles of the 2D ternary mixture, thermostatted at T = 0.8."""
    rng = np.random.default_rng(11)
    x, types, box = random_liquid(1000, 2, 1.1, rng, n_species=3)
    system = LJSystem(x, types, box, KA2D)
    system.draw_velocities(0.8, rng)
    system.run(2000, 0.004, BussiThermostat(0.8, 0.2, rng))
    return system, rng


def test_configurational_temperature_is_the_thermostat_temperature(ka2d_liquid):
    system, rng = ka2d_liquid
    thermostat = BussiThermostat(0.8, 0.2, rng)
    samples = []
    for _ in range(40):  # 40 samples: standard error of the mean about 1%
        system.run(100, 0.004, thermostat)
        samples.append(
            configurational_temperature(system.positions, system.types, system.box, KA2D)
        )
    assert np.mean(samples) == pytest.approx(0.8, rel=0.03)
    # under the other parameters the same configurations are not at T = 0.8
    other = configurational_temperature(system.positions, system.types, system.box, KA2_3D)
    assert abs(other / samples[-1] - 1) > 0.1


def test_inherent_structure_is_force_free_only_under_its_potential(ka2d_liquid):
    system, _ = ka2d_liquid
    quench = LJSystem(system.positions, system.types, system.box, KA2D)
    assert fire_minimize(quench, ftol=1e-8, max_steps=50_000).converged
    x = quench.positions
    assert force_rms(x, quench.types, quench.box, KA2D) < 1e-8
    # written with 6 significant digits, as text dumps often are: still far apart
    written = np.asarray([[float(f"{v:.6g}") for v in row] for row in x])
    own = force_rms(written, quench.types, quench.box, KA2D)
    assert own < 0.05
    assert force_rms(written, quench.types, quench.box, KA2_3D) > 20 * own
    shifted = LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, "shift")
    assert force_rms(x, quench.types, quench.box, shifted) > 1e-3


def _write_dump(path, positions, types, box) -> None:
    """A LAMMPS text dump of one 2D frame (z = 0), positions with 6 significant digits."""
    lines = ["ITEM: TIMESTEP", "0", "ITEM: NUMBER OF ATOMS", str(len(types))]
    lines += ["ITEM: BOX BOUNDS pp pp pp", f"0 {box[0]:.17g}", f"0 {box[1]:.17g}", "-0.5 0.5"]
    lines += ["ITEM: ATOMS id type x y z"]
    lines += [
        f"{i + 1} {t + 1} {x:.6g} {y:.6g} 0"
        for i, (t, (x, y)) in enumerate(zip(types, positions, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")


def test_check_script_names_the_potential_of_an_inherent_structure(ka2d_liquid, tmp_path, capsys):
    script = Path(__file__).resolve().parents[2] / "scripts" / "check_potential.py"
    spec = importlib.util.spec_from_file_location("check_potential", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    system, _ = ka2d_liquid
    quench = LJSystem(system.positions, system.types, system.box, KA2D)
    fire_minimize(quench, ftol=1e-8, max_steps=50_000)
    _write_dump(tmp_path / "inherent.dump", quench.wrapped_positions(), quench.types, quench.box)
    argv = [str(tmp_path / "inherent.dump"), "--simulator", "ka2d_ternary", "ka3d", "--dim", "2"]
    assert module.main(argv) == 0
    rows = {line.split()[1]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert float(rows["ka2d_ternary"][3]) < 0.05  # rms force at 6-digit precision
    assert "has 2 species, data 3" in " ".join(rows["ka3d"])
    # a GlassBench-layout file: its inherent positions (default) and its thermal ones
    np.savez(
        tmp_path / "config.npz",
        types=quench.types,
        initial_positions=system.wrapped_positions(),
        initial_positions_inherent=quench.wrapped_positions(),
        box=quench.box,
    )
    for positions, check in [("inherent", lambda r: float(r[3]) < 1e-6), ("equilibrium", None)]:
        argv = [str(tmp_path / "config.npz"), "--simulator", "ka2d_ternary"]
        assert module.main([*argv, "--positions", positions]) == 0
        (row,) = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
        assert row[:3] == ["config.npz", "ka2d_ternary", "1"]
        assert check(row) if check else float(row[4]) > 0.3  # a thermal T_conf
