"""The claim's criterion on synthetic curves whose answer is known."""

import numpy as np
import pytest

from glassml.sorting.criterion import Curves, basin, counts_at_least, criterion

G = np.round(np.arange(0.01, 0.305, 0.01), 4)


def rho_curve(g):
    # lowest density at g = 0.1; rho <= 1.05 rho_min for |g - 0.1| <= sqrt(0.005)
    return 1.0 + 10.0 * (g - 0.1) ** 2


def test_basin_edges_of_a_parabola():
    lo, hi, open_ = basin(G, rho_curve(G))
    half = np.sqrt(0.005)
    # linear interpolation of a parabola on a 0.01 grid: within 1e-3 of the exact edges
    assert lo == pytest.approx(0.1 - half, abs=1e-3)
    assert hi == pytest.approx(0.1 + half, abs=1e-3)
    assert not open_


def test_known_minima_losses_and_basin_membership():
    # three thresholds: minimum of the count at 0.05 (inside), 0.25 (outside), 0.01 (grid edge)
    mins = [0.05, 0.25, 0.01]
    counts = np.stack([1.0 + (G - m) ** 2 for m in mins], axis=1)
    seeds = 3
    curves = Curves(
        G,
        [np.full(seeds, r) for r in rho_curve(G)],
        [np.tile(c, (seeds, 1)) for c in counts],
        ks=[2, 5, 10],
    )
    res = criterion(curves, n_boot=50)
    assert res.g_opt == pytest.approx(0.1)
    assert res.rho_min == pytest.approx(1.0)
    assert res.g_min == pytest.approx(mins)
    assert res.loss == pytest.approx([10 * 0.05**2, 10 * 0.15**2, 10 * 0.09**2])
    assert list(res.inside) == [True, False, False]
    assert list(res.g_min_at_edge) == [False, False, True]
    # identical seeds: no scatter, so no bootstrap spread
    assert res.loss_err == pytest.approx([0, 0, 0])
    assert list(res.p_inside) == [1.0, 0.0, 0.0]
    d = res.as_dict()
    assert d["by_k"][1]["k"] == 5 and d["by_k"][1]["inside_basin"] is False


def test_noise_gives_intervals_that_cover_the_truth():
    rng = np.random.default_rng(1)
    seeds = 4
    rho = [rho_curve(g) * (1 + 0.002 * rng.normal(size=seeds)) for g in G]
    cnt = [(1.0 + 4 * (g - 0.14) ** 2) * (1 + 0.002 * rng.normal(size=(seeds, 1))) for g in G]
    res = criterion(Curves(G, rho, cnt, ks=["n_c"]), n_boot=300)
    lo, hi = res.g_min_interval[0]
    assert lo - 0.011 <= 0.14 <= hi + 0.011
    assert res.inside[0]  # rho(0.14) = 1.016 rho_min
    assert res.loss[0] == pytest.approx(0.016, abs=0.01)
    assert np.isfinite(res.loss_err[0]) and res.loss_err[0] > 0


def test_counts_from_histograms():
    hist = np.array([[0, 5, 3, 2, 1], [0, 3, 3, 0, 2]])  # sizes 1..3, last bin = 4 or more
    n = counts_at_least(hist, np.array([2, 4]), n_sites=10)
    assert n == pytest.approx([(6 + 5) / 2 / 10, (1 + 2) / 2 / 10])
    with pytest.raises(ValueError, match=">= 5"):
        counts_at_least(hist, np.array([5]), n_sites=10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 3"):
        Curves(G[:2], [np.ones(1)] * 2, [np.ones((1, 1))] * 2, ks=[2])
    with pytest.raises(ValueError, match="shape"):
        Curves(G[:3], [np.ones(2)] * 3, [np.ones((3, 1))] * 3, ks=[2])


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_report_runs_the_claim_on_a_small_g_sweep(tmp_path):
    """Three g, two seeds each (one of them run in the per-neighbour convention at 4 phi):
    the report groups them by phi per molecule and writes the claim's table and figure."""
    from glassml.sorting import report
    from glassml.sorting.params import SortingParams
    from glassml.sorting.run import simulate

    common = dict(L=24, M=10, t_end=1500.0, n_samples=40, snapshots=0, progress=False)
    for g in (0.05, 0.1, 0.15):
        simulate(SortingParams(phi=2e-3, g=g, seed=0, **common), tmp_path / f"g{g}_s0")
        simulate(
            SortingParams(
                phi=8e-3, g=g, seed=1, hop_rate_per="neighbour", **{**common, "t_end": 375.0}
            ),
            tmp_path / f"g{g}_s1",
        )
    res = report.report(tmp_path)
    claim = res["claim"]["0.002"]
    assert claim["phi_neighbour"] == pytest.approx(8e-3)
    assert set(claim["seeds_per_g"].values()) == {2}
    assert [row["k"] for row in claim["by_k"]][:2] == [2, 3]
    md = (tmp_path / "sorting_report.md").read_text()
    assert "phi = 0.002 (per molecule) = 0.008 (per neighbour)" in md
    assert (tmp_path / "sorting_claim.png").exists()
