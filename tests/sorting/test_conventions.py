"""The two rate conventions: k_D per molecule (ours) and per empty neighbour (the papers')."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.simulate.config import ConfigError
from glassml.sorting import kernel as K
from glassml.sorting.params import SortingParams
from glassml.sorting.run import simulate


def test_phi_in_both_conventions():
    mol = SortingParams(phi=1e-4, k_D=2.0)
    nb = SortingParams(phi=4e-4, k_D=0.5, hop_rate_per="neighbour")
    for p in (mol, nb):
        assert p.phi_molecule == pytest.approx(1e-4)
        assert p.phi_neighbour == pytest.approx(4e-4)
    # a free molecule hops at 4 * k_D in the neighbour convention (k_D per direction)
    assert nb.kernel_params()[0][K.P_KD] == pytest.approx(2.0)
    assert nb.conventions()["time_to_molecule_units"] == pytest.approx(2.0)
    assert nb.conventions()["time_to_neighbour_units"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match=r"simulator\.hop_rate_per"):
        SortingParams(hop_rate_per="site")


def test_same_physics_at_four_times_the_phi(tmp_path):
    """phi per neighbour = 4 phi per molecule is the same process with time divided by 4:
    with one seed the trajectories coincide event by event."""
    common = dict(L=16, M=8, g=0.1, seed=3, n_samples=20, snapshots=0, progress=False)
    a = simulate(SortingParams(phi=2e-3, t_end=400.0, **common), tmp_path / "molecule")
    b = simulate(
        SortingParams(phi=8e-3, t_end=100.0, hop_rate_per="neighbour", **common),
        tmp_path / "neighbour",
    )
    za, zb = (
        np.load(tmp_path / "molecule/timeseries.npz"),
        np.load(tmp_path / "neighbour/timeseries.npz"),
    )
    np.testing.assert_allclose(za["t"], 4 * zb["t"])
    for key in ("density", "n_domains", "inserted", "extracted_domains", "events"):
        np.testing.assert_array_equal(za[key], zb[key])
    ta = a["sorting"]["residence_time_little"]["mean"]
    tb = b["sorting"]["residence_time_little"]["mean"]
    assert ta == pytest.approx(4 * tb, rel=1e-9)
    assert b["conventions"]["phi_molecule"] == pytest.approx(a["conventions"]["phi_molecule"])
    # the per-molecule run keeps its original digest (no new key in its physics)
    assert "hop_rate_per" not in a["params"] and b["params"]["hop_rate_per"] == "neighbour"
