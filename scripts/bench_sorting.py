"""Throughput of the sorting KMC against a naive random-sequential Monte Carlo loop.

For each lattice size: (1) the open system at a typical (phi, g) with domain
tracking and instant extraction on, brought to its stationary state, then timed
(accepted events/s, simulated time per wall second, and that rate times L^2,
which is constant when the cost is linear in L^2); (2) the closed reference
case of the issue, g = 0.2 at density 0.2 (hops only, tracking on), relaxed from
a random start for the same time, timed for the KMC and for a naive numba loop on
the same lattice, and their ratio.

With --repeats N every timing window is repeated N times, KMC and naive loop
alternating so that background load hits both alike; each figure is then the
median with its [min, max] over the repeats (the ratio is taken per repeat).

Usage: python scripts/bench_sorting.py [--sizes 256 1024] [--seconds 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from numba import njit

from glassml.sorting import kernel as K
from glassml.sorting.params import SortingParams
from glassml.sorting.run import initial_state


@njit(cache=True)
def naive_sweep(occ, nx, ny, g, k_d, n_attempts, seed):
    """Random-sequential hops with acceptance g^n; returns accepted moves and elapsed time.

    One attempt = pick a site; if occupied, pick a direction; if empty, accept with g^n.
    Each attempt advances the clock by 1/(N k_D), so N attempts are one unit of 1/k_D.
    """
    # numba implements only the legacy np.random API
    np.random.seed(seed)  # noqa: NPY002
    n = nx * ny
    gp = np.empty(5)
    for k in range(5):
        gp[k] = g**k
    acc = 0
    for _ in range(n_attempts):
        s = np.random.randint(n)  # noqa: NPY002
        if occ[s] == 0:
            continue
        x = s % nx
        y = s // nx
        e = y * nx + (x + 1) % nx
        w = y * nx + (x - 1) % nx
        u = ((y + 1) % ny) * nx + x
        dn = ((y - 1) % ny) * nx + x
        d = np.random.randint(4)  # noqa: NPY002
        j = e if d == 0 else (w if d == 1 else (u if d == 2 else dn))
        if occ[j]:
            continue
        nn = occ[e] + occ[w] + occ[u] + occ[dn]
        if np.random.random() < gp[nn]:  # noqa: NPY002
            occ[s] = 0
            occ[j] = 1
            acc += 1
    return acc, n_attempts / (n * k_d)


def _events(st: K.SortState) -> int:
    return int(st.si[K.S_NHOP] + st.si[K.S_NINS] + st.si[K.S_NEXT])


def time_kmc(st: K.SortState, p: SortingParams, seconds: float) -> dict[str, float]:
    par, ipar = p.kernel_params()
    e0, t0, w0 = _events(st), float(st.sf[K.F_T]), time.perf_counter()
    while time.perf_counter() - w0 < seconds:
        K.run(st, par, ipar, 1e300, 1_000_000)
        st.si[K.S_NEXTBUF] = 0
        st.si[K.S_NDEATHBUF] = 0
    wall = time.perf_counter() - w0
    sim = float(st.sf[K.F_T]) - t0
    return {
        "events_per_s": (_events(st) - e0) / wall,
        "sim_time_per_s": sim / wall,
        "sim_time_per_s_times_L2": sim / wall * p.nx * p.ny,
    }


def time_naive(occ: np.ndarray, p: SortingParams, seconds: float) -> dict[str, float]:
    occ = occ.copy()
    naive_sweep(occ, p.nx, p.ny, p.g, p.k_D, 1000, 0)  # compile
    n = 1 << 22
    acc = tot = sim = 0.0
    w0 = time.perf_counter()
    while time.perf_counter() - w0 < seconds:
        a, t = naive_sweep(occ, p.nx, p.ny, p.g, p.k_D, n, int(tot) % 100000)
        acc += a
        sim += t
        tot += n
    wall = time.perf_counter() - w0
    return {
        "attempts_per_s": tot / wall,
        "accepted_per_s": acc / wall,
        "sim_time_per_s": sim / wall,
    }


def _summary(rows: list[dict[str, float]]) -> dict[str, float | list[float]]:
    """One repeat: its values; several: median and [min, max] of each key."""
    if len(rows) == 1:
        return dict(rows[0])
    out: dict[str, float | list[float]] = {}
    for k in rows[0]:
        v = np.array([r[k] for r in rows])
        out[k] = float(np.median(v))
        out[k + "_range"] = [float(v.min()), float(v.max())]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--phi", type=float, default=1e-3)
    ap.add_argument("--g", type=float, default=0.1)
    ap.add_argument("--M", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
    ap.add_argument("--repeats", type=int, default=1, help="timing windows per measurement")
    ap.add_argument(
        "--relax", type=float, default=1500.0, help="time (1/k_D) to reach stationarity"
    )
    args = ap.parse_args()
    results = {}
    for L in args.sizes:
        row: dict[str, dict] = {}
        # (1) open system at a typical operating point, tracking + extraction on
        p = SortingParams(L=L, phi=args.phi, g=args.g, M=args.M, progress=False)
        st = initial_state(p)
        par, ipar = p.kernel_params()
        w0 = time.perf_counter()
        while st.sf[K.F_T] < args.relax:
            K.run(st, par, ipar, args.relax, 5_000_000)
            st.si[K.S_NEXTBUF] = 0
            st.si[K.S_NDEATHBUF] = 0
        relax_wall = time.perf_counter() - w0
        kmc, naive = [], []
        for _ in range(args.repeats):
            kmc.append(time_kmc(st, p, args.seconds))
            naive.append(time_naive(st.occ, p, args.seconds))
        row["open_kmc"] = _summary(kmc)
        row["open_kmc"]["density"] = float(st.occ.mean())
        row["open_kmc"]["relax_wall_s"] = relax_wall
        row["open_naive_hops_same_state"] = _summary(naive)
        # (2) the reference case: closed lattice, g = 0.2, density 0.2, tracking on
        q = SortingParams(
            L=L, phi=0.0, g=0.2, extraction="none", init="random", init_density=0.2, progress=False
        )
        st = initial_state(q)
        par, ipar = q.kernel_params()
        # from the random start the domains grow for ~1000 / k_D and events get ~20%
        # cheaper: both loops are timed on the relaxed lattice
        while st.sf[K.F_T] < args.relax:
            K.run(st, par, ipar, args.relax, 5_000_000)
            st.si[K.S_NDEATHBUF] = 0
        occ = st.occ.copy()
        kmc, naive, ratio = [], [], []
        for _ in range(args.repeats):
            kmc.append(time_kmc(st, q, args.seconds))
            naive.append(time_naive(occ, q, args.seconds))
            ratio.append(
                {
                    "closed": kmc[-1]["events_per_s"] / naive[-1]["accepted_per_s"],
                    "closed_sim_time": kmc[-1]["sim_time_per_s"] / naive[-1]["sim_time_per_s"],
                }
            )
        row["closed_kmc"] = _summary(kmc)
        row["closed_naive"] = _summary(naive)
        row["ratio_accepted_events"] = _summary(ratio)
        results[L] = row
        print(f"L = {L}")
        print(json.dumps(row, indent=1))
    print(
        "sim_time_per_s * L^2 (open, constant if cost is linear in L^2):",
        {L: f"{r['open_kmc']['sim_time_per_s_times_L2']:.3g}" for L, r in results.items()},
    )
    print(
        "closed KMC / naive accepted events per second:",
        {L: f"{r['ratio_accepted_events']['closed']:.2f}" for L, r in results.items()},
    )


if __name__ == "__main__":
    main()
