"""Does the number of domains have its minimum where sorting is most efficient?

The papers (Zamparo et al., arXiv:1811.06760; Floris et al., arXiv:2205.03337)
claim that at fixed phi sorting is most efficient -- lowest stationary density of
molecules, i.e. shortest residence time -- close to the aggregation strength g
where the stationary number of domains is minimal. "Domain" depends on a size
threshold k, so the claim is tested for every k: g_min(k) is the g of the grid
where the seed-averaged number of domains of >= k molecules per site is lowest,
and the efficiency it gives away is rho(g_min(k)) / rho_min - 1. "Close to" is
read as "inside the basin" where rho <= (1 + tol) rho_min (tol = 5% by default,
our choice). Errors come from the seed-to-seed scatter: the seeds at each g are
resampled with replacement (bootstrap) and every quantity recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BASIN_TOL = 0.05  # our choice: "close to the optimum" = within 5% of the lowest density


def counts_at_least(hist: np.ndarray, ks: np.ndarray, n_sites: int) -> np.ndarray:
    """Mean number of clusters of >= k molecules per site, for each k, from size histograms
    ``hist[sample, size]`` (last bin: that size or more)."""
    hist = np.asarray(hist, dtype=float)
    tail = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # tail[:, s] = clusters of size >= s
    ks = np.asarray(ks, dtype=int)
    if ks.max() >= hist.shape[1]:
        raise ValueError(
            f"size histograms stop at {hist.shape[1] - 1} molecules; cannot count clusters of "
            f">= {ks.max()}"
        )
    return tail[:, ks].mean(axis=0) / n_sites


@dataclass
class Curves:
    """Per-seed values on a g grid: ``rho[g][seed]`` and ``counts[g][seed, k]``; ``ks`` labels
    the count columns (size thresholds, or a name such as "n_c")."""

    g: np.ndarray
    rho: list[np.ndarray]
    counts: list[np.ndarray]
    ks: list

    def __post_init__(self) -> None:
        self.g = np.asarray(self.g, dtype=float)
        self.ks = list(self.ks)
        if len(self.g) < 3:
            raise ValueError(f"need at least 3 values of g, got {len(self.g)}")
        if np.any(np.diff(self.g) <= 0):
            raise ValueError("g values must be strictly increasing")
        if len(self.rho) != len(self.g) or len(self.counts) != len(self.g):
            raise ValueError("rho and counts need one entry per value of g")
        for i, (r, c) in enumerate(zip(self.rho, self.counts, strict=True)):
            c = np.atleast_2d(c)
            if len(r) == 0 or c.shape != (len(r), len(self.ks)):
                raise ValueError(
                    f"g={self.g[i]:g}: expected counts of shape (seeds={len(r)}, "
                    f"k={len(self.ks)}), got {c.shape}"
                )

    def means(self, pick: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Seed means of rho [G] and counts [G, K]; ``pick`` resamples the seeds."""
        rho = np.empty(len(self.g))
        cnt = np.empty((len(self.g), len(self.ks)))
        for i, (r, c) in enumerate(zip(self.rho, self.counts, strict=True)):
            idx = slice(None) if pick is None else pick[i]
            rho[i] = np.mean(np.asarray(r)[idx])
            cnt[i] = np.atleast_2d(c)[idx].mean(axis=0)
        return rho, cnt

    def errors(self) -> tuple[np.ndarray, np.ndarray]:
        """Seed-to-seed standard errors of the means (nan with a single seed)."""

        def sem(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=float)
            if len(x) < 2:
                return np.full(x.shape[1:], np.nan)
            return x.std(axis=0, ddof=1) / np.sqrt(len(x))

        return (
            np.array([sem(np.asarray(r)) for r in self.rho]),
            np.array([sem(np.atleast_2d(c)) for c in self.counts]),
        )


def basin(g: np.ndarray, rho: np.ndarray, tol: float = BASIN_TOL) -> tuple[float, float, bool]:
    """The interval of g around the lowest density where rho <= (1 + tol) rho_min.

    Edges are linear interpolations between grid points; an edge that would lie
    beyond the grid is the grid's end, and ``open_`` says that happened.
    """
    k = int(np.argmin(rho))
    level = (1.0 + tol) * rho[k]
    lo_i, hi_i = k, k
    while lo_i > 0 and rho[lo_i - 1] <= level:
        lo_i -= 1
    while hi_i < len(g) - 1 and rho[hi_i + 1] <= level:
        hi_i += 1
    open_ = lo_i == 0 or hi_i == len(g) - 1
    lo = g[lo_i]
    if lo_i > 0:
        a, b = rho[lo_i - 1], rho[lo_i]
        lo = g[lo_i - 1] + (a - level) / (a - b) * (g[lo_i] - g[lo_i - 1])
    hi = g[hi_i]
    if hi_i < len(g) - 1:
        a, b = rho[hi_i], rho[hi_i + 1]
        hi = g[hi_i] + (level - a) / (b - a) * (g[hi_i + 1] - g[hi_i])
    return float(lo), float(hi), open_


def _point(g: np.ndarray, rho: np.ndarray, cnt: np.ndarray, tol: float) -> dict[str, np.ndarray]:
    i_min = np.argmin(cnt, axis=0)  # [K]
    rho_min = rho.min()
    return {
        "g_opt": g[np.argmin(rho)],
        "rho_min": rho_min,
        "g_min": g[i_min],
        "loss": rho[i_min] / rho_min - 1.0,
        "inside": rho[i_min] <= (1.0 + tol) * rho_min,
        "edge": (i_min == 0) | (i_min == len(g) - 1),
    }


@dataclass
class Criterion:
    """The claim tested at one phi, for every size threshold k."""

    ks: list
    g: np.ndarray
    rho: np.ndarray
    rho_err: np.ndarray
    counts: np.ndarray
    counts_err: np.ndarray
    g_opt: float
    g_opt_interval: tuple[float, float]
    rho_min: float
    basin: tuple[float, float]
    basin_open: bool
    g_min: np.ndarray
    g_min_interval: np.ndarray  # [K, 2]: 16th and 84th bootstrap percentiles
    g_min_at_edge: np.ndarray
    loss: np.ndarray
    loss_err: np.ndarray
    inside: np.ndarray
    p_inside: np.ndarray  # fraction of bootstrap resamples in which g_min(k) is in the basin
    tol: float
    n_boot: int
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        rows = []
        for j, k in enumerate(self.ks):
            rows.append(
                {
                    "k": k if isinstance(k, str) else int(k),
                    "g_min": float(self.g_min[j]),
                    "g_min_lo": float(self.g_min_interval[j, 0]),
                    "g_min_hi": float(self.g_min_interval[j, 1]),
                    "at_grid_edge": bool(self.g_min_at_edge[j]),
                    "efficiency_loss": float(self.loss[j]),
                    "efficiency_loss_err": float(self.loss_err[j]),
                    "inside_basin": bool(self.inside[j]),
                    "p_inside_basin": float(self.p_inside[j]),
                }
            )
        return {
            "g": self.g.tolist(),
            "rho": self.rho.tolist(),
            "rho_err": self.rho_err.tolist(),
            "g_opt": self.g_opt,
            "g_opt_interval": list(self.g_opt_interval),
            "rho_min": self.rho_min,
            "basin": list(self.basin),
            "basin_open": self.basin_open,
            "basin_tolerance": self.tol,
            "n_boot": self.n_boot,
            "by_k": rows,
            **self.extra,
        }


def criterion(curves: Curves, tol: float = BASIN_TOL, n_boot: int = 1000, seed: int = 0):
    """g_min(k), efficiency loss and basin membership, with bootstrap errors over seeds."""
    g = curves.g
    rho, cnt = curves.means()
    rho_err, cnt_err = curves.errors()
    best = _point(g, rho, cnt, tol)
    lo, hi, open_ = basin(g, rho, tol)
    rng = np.random.default_rng(seed)
    sizes = [len(r) for r in curves.rho]
    boots = []
    if min(sizes) >= 2:
        for _ in range(n_boot):
            pick = [rng.integers(0, n, n) for n in sizes]
            boots.append(_point(g, *curves.means(pick), tol))
    K = len(curves.ks)
    if boots:
        gm = np.array([b["g_min"] for b in boots])
        ls = np.array([b["loss"] for b in boots])
        gm_int = np.percentile(gm, [16, 84], axis=0).T
        loss_err = ls.std(axis=0, ddof=1)
        p_in = np.mean([b["inside"] for b in boots], axis=0)
        g_opt_int = tuple(float(x) for x in np.percentile([b["g_opt"] for b in boots], [16, 84]))
    else:
        gm_int = np.full((K, 2), np.nan)
        loss_err = np.full(K, np.nan)
        p_in = best["inside"].astype(float)
        g_opt_int = (float("nan"), float("nan"))
    return Criterion(
        ks=curves.ks,
        g=g,
        rho=rho,
        rho_err=rho_err,
        counts=cnt,
        counts_err=cnt_err,
        g_opt=float(best["g_opt"]),
        g_opt_interval=g_opt_int,
        rho_min=float(best["rho_min"]),
        basin=(lo, hi),
        basin_open=open_,
        g_min=best["g_min"],
        g_min_interval=gm_int,
        g_min_at_edge=best["edge"],
        loss=best["loss"],
        loss_err=loss_err,
        inside=best["inside"],
        p_inside=p_in,
        tol=tol,
        n_boot=len(boots),
    )
