"""Kinetic Monte Carlo kernel: bookkeeping, rates, detailed balance, clock."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from glassml.sorting import kernel as K
from glassml.sorting.params import SortingParams
from glassml.sorting.run import initial_state
from tests.sorting.helpers import (
    check_invariants,
    configurations,
    copy_state,
    pairs,
    transitions,
)


def test_rng_matches_reference_xoshiro():
    """xoshiro256** against a pure-Python implementation of the published algorithm."""
    st = K.new_state(4, 4, 7)
    s = [int(x) for x in st.rng]
    mask = (1 << 64) - 1

    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & mask

    ref = []
    for _ in range(5):
        ref.append(rotl(s[1] * 5 & mask, 7) * 9 & mask)
        t = s[1] << 17 & mask
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    got = [int(K.rng_next(st.rng)) for _ in range(5)]
    assert got == ref


@pytest.mark.parametrize(
    "rule,extraction,rate,phi,g,min_dom",
    [
        ("gn", "size", None, 0.05, 0.3, 2),
        ("gn", "size", None, 0.05, 0.3, 1),  # lone molecules keep cluster slots
        ("metropolis", "size", None, 0.05, 0.1, 2),
        ("gn", "square", None, 0.05, 0.2, 2),
        ("gn", "size", 0.5, 0.05, 0.2, 2),
        ("gn", "square", 0.3, 0.05, 0.2, 2),
        ("gn", "none", None, 0.0, 1.0, 2),
    ],
)
def test_tracking_equals_full_relabelling(rule, extraction, rate, phi, g, min_dom):
    """After every event the tracked domains equal scipy.ndimage.label with periodic wrap."""
    for seed, (nx, ny) in enumerate([(9, 7), (12, 12)]):
        p = SortingParams(
            L=nx,
            Ly=ny,
            phi=phi,
            g=g,
            rule=rule,
            M=15,
            extraction=extraction,
            square=2,
            extraction_rate=rate,
            domain_min_size=min_dom,
            init="random",
            init_density=0.35,
            seed=seed,
            progress=False,
        )
        st = initial_state(p)
        par, ipar = p.kernel_params()
        msq = 2 if extraction == "square" else None
        check_invariants(st, nx, ny, min_dom, msq)
        for _ in range(1500):
            K.run(st, par, ipar, 1e18, 1)
            st.si[K.S_NEXTBUF] = 0
            st.si[K.S_NDEATHBUF] = 0
            check_invariants(st, nx, ny, min_dom, msq)
        assert st.si[K.S_NHOP] > 300


def test_rates_detailed_balance_by_enumeration():
    """Both rules obey detailed balance for E = -eps * pairs with g = exp(-eps/kT)."""
    nx = ny = 3
    for rule in ("gn", "metropolis"):
        for g in (0.1, 0.45):
            for occ in configurations(nx * ny, 4):
                w_a = g ** (-pairs(occ, nx, ny))
                for new, r in transitions(occ, nx, ny, g, 1.0, 0.0, rule).items():
                    back = transitions(new, nx, ny, g, 1.0, 0.0, rule)[occ]
                    w_b = g ** (-pairs(new, nx, ny))
                    assert w_a * r == pytest.approx(w_b * back, rel=1e-12)


@pytest.mark.parametrize("rule", ["gn", "metropolis"])
def test_one_step_matches_enumerated_rates(rule):
    """From a fixed state: next-state frequencies = rate/total, waiting time ~ Exp(total)."""
    nx = ny = 4
    g, k_i = 0.3, 0.2
    p = SortingParams(
        L=4, phi=k_i, g=g, rule=rule, extraction="none", domain_min_size=2, progress=False, M=2
    )
    base = K.new_state(nx, ny, 11)
    par, ipar = p.kernel_params()
    start = (0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0)
    K.fill_sites(base, par, ipar, np.flatnonzero(start))
    rates = transitions(start, nx, ny, g, 1.0, k_i, rule)
    total = sum(rates.values())
    keys = list(rates)
    counts = dict.fromkeys(keys, 0)
    waits = []
    rng_state = base.rng.copy()
    n_trials = 6000
    for _ in range(n_trials):
        st = copy_state(base)
        st.rng[:] = rng_state
        while True:  # thinned proposals are null events: repeat until the state changes
            K.run(st, par, ipar, 1e18, 1)
            if tuple(st.occ) != start:
                break
        rng_state = st.rng.copy()
        counts[tuple(int(x) for x in st.occ)] += 1
        waits.append(st.sf[K.F_T])
    obs = np.array([counts[k] for k in keys])
    exp = np.array([rates[k] / total for k in keys]) * n_trials
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert stats.chi2.sf(chi2, len(keys) - 1) > 1e-3
    assert stats.kstest(np.array(waits) * total, "expon").pvalue > 1e-3


def test_waiting_times_exponential_with_total_rate():
    """Along a trajectory, dt * R(state) is Exp(1) (R recorded by the kernel at each event)."""
    p = SortingParams(L=16, phi=0.01, g=0.2, M=20, progress=False, init="random", init_density=0.3)
    st = initial_state(p)
    st = st._replace(wait=np.zeros((20000, 2)))
    par, ipar = p.kernel_params()
    K.run(st, par, ipar, 1e18, 20000)
    x = st.wait[:, 0] * st.wait[:, 1]
    assert stats.kstest(x, "expon").pvalue > 1e-3


@pytest.mark.parametrize("rule", ["gn", "metropolis"])
def test_stationary_distribution_is_boltzmann(rule):
    """Closed 3x3 lattice with 3 molecules: time-sampled state frequencies = g^-pairs / Z."""
    nx = ny = 3
    g = 0.35
    p = SortingParams(
        L=4, phi=0.0, g=g, rule=rule, extraction="none", progress=False, M=2, domain_min_size=2
    )
    par, ipar = p.kernel_params()
    ipar[K.I_NX] = nx
    ipar[K.I_NY] = ny
    st = K.new_state(nx, ny, 3)
    K.fill_sites(st, par, ipar, np.array([0, 1, 2]))
    states = list(configurations(nx * ny, 3))
    index = {s: k for k, s in enumerate(states)}
    weights = np.array([g ** (-pairs(s, nx, ny)) for s in states])
    counts = np.zeros(len(states))
    dt = 2.0
    for k in range(1, 15001):
        K.run(st, par, ipar, k * dt, 1 << 40)
        st.si[K.S_NDEATHBUF] = 0
        counts[index[tuple(int(x) for x in st.occ)]] += 1
    exp = weights / weights.sum() * counts.sum()
    chi2 = ((counts - exp) ** 2 / exp).sum()
    # samples are mildly correlated: allow a generous p-value floor
    assert stats.chi2.sf(chi2 / 1.5, len(states) - 1) > 1e-4, chi2


def test_insertion_only_density_is_one_minus_exp():
    """Only insertion (hops cannot change it): <rho(t)> = 1 - exp(-k_I t) exactly."""
    k_i = 0.7
    times = np.array([0.2, 0.5, 1.0, 2.0, 4.0])
    rho = []
    for seed in range(4):
        p = SortingParams(
            L=64,
            phi=k_i,
            g=1.0,
            extraction="none",
            M=2,
            seed=seed,
            progress=False,
            domain_min_size=2,
        )
        st = initial_state(p)
        par, ipar = p.kernel_params()
        row = []
        for t in times:
            K.run(st, par, ipar, t, 1 << 40)
            st.si[K.S_NDEATHBUF] = 0
            row.append(st.occ.mean())
        rho.append(row)
    rho = np.mean(rho, axis=0)
    exact = 1 - np.exp(-k_i * times)
    sigma = np.sqrt(exact * (1 - exact) / (4 * 64 * 64))
    assert np.all(np.abs(rho - exact) < 5 * sigma + 1e-12), (rho, exact)


@pytest.mark.parametrize(
    "phi,g,extraction,rule",
    [(0.0, 0.2, "none", "gn"), (1e-3, 0.1, "size", "gn"), (1e-3, 0.15, "square", "metropolis")],
)
def test_prefetching_path_keeps_bookkeeping_exact(phi, g, extraction, rule):
    """Lattices of >= 2**18 sites prefetch the next event's site: state stays exact there too."""
    p = SortingParams(
        L=512,
        phi=phi,
        g=g,
        rule=rule,
        extraction=extraction,
        init="random",
        init_density=0.2,
        progress=False,
    )
    st = initial_state(p)
    par, ipar = p.kernel_params()
    for _ in range(3):
        K.run(st, par, ipar, 1e18, 50_000)
        st.si[K.S_NEXTBUF] = 0
        st.si[K.S_NDEATHBUF] = 0
        # square counts per cluster: checked on small lattices above (slow here)
        check_invariants(st, p.nx, p.ny, p.domain_min_size)
    assert st.si[K.S_NHOP] > 50_000
