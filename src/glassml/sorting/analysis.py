"""Statistics of sorting runs: transient detection, block averages, domain fates, committor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

from glassml.sorting.kernel import ALIVE, EXTRACTED, MERGED


def mser_transient(x: np.ndarray, batch: int = 5) -> int:
    """Index where the transient ends, by MSER-5 (White 1997).

    Truncating at d minimises Var(x[d:]) / (n - d)^2 over batches of ``batch``
    samples; we only search the first half so the estimate keeps enough data.
    """
    n = len(x) // batch
    if n < 4:
        return 0
    b = x[: n * batch].reshape(n, batch).mean(axis=1)
    best, arg = np.inf, 0
    for d in range(n // 2):
        tail = b[d:]
        v = tail.var() / len(tail) ** 2
        if v < best:
            best, arg = v, d
    return arg * batch


def block_error(x: np.ndarray, min_blocks: int = 16) -> float:
    """Standard error of the mean of a correlated series (Flyvbjerg-Petersen blocking).

    The largest estimate over blocking levels that keep at least ``min_blocks``
    blocks: conservative when the plateau is not reached.
    """
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return float("nan")
    best = x.std(ddof=1) / np.sqrt(len(x))
    while len(x) // 2 >= min_blocks:
        x = 0.5 * (x[: len(x) // 2 * 2 : 2] + x[1 : len(x) // 2 * 2 : 2])
        best = max(best, x.std(ddof=1) / np.sqrt(len(x)))
    return float(best)


@dataclass
class Stationary:
    """Stationary mean of a time series and how it was obtained."""

    mean: float
    err: float
    start: int
    n: int
    drift_sigma: float

    def as_dict(self) -> dict[str, float]:
        return {
            "mean": self.mean,
            "err": self.err,
            "start_index": self.start,
            "n_samples": self.n,
            "drift_sigma": self.drift_sigma,
        }


def stationary_mean(x: np.ndarray, start: int | None = None) -> Stationary:
    """Mean after the transient, its blocking error, and a drift test.

    ``drift_sigma`` compares the two halves of the stationary window in units of
    their combined error: above ~3 the series is still drifting.
    """
    x = np.asarray(x, dtype=float)
    d = mser_transient(x) if start is None else start
    y = x[d:]
    if len(y) < 4:
        return Stationary(
            float(np.mean(y)) if len(y) else float("nan"), float("nan"), d, len(y), float("inf")
        )
    h = len(y) // 2
    e1, e2 = block_error(y[:h], 8), block_error(y[h:], 8)
    den = np.hypot(e1, e2)
    drift = abs(y[:h].mean() - y[h:].mean()) / den if den > 0 else 0.0
    return Stationary(float(y.mean()), block_error(y), d, len(y), float(drift))


# ----------------------------------------------------------------------------- domains


def resolve_fates(rec: np.ndarray, fate: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Final fate of every domain: merged domains inherit the fate of what absorbed them.

    Arrays are indexed by row; ``rec`` holds record ids, ``other`` the absorbing
    record of merged domains. Chains are followed to the end (ALIVE if censored).
    """
    order = np.argsort(rec)
    srec = rec[order]
    final = fate.copy()
    idx_other = np.full(len(rec), -1)
    m = fate == MERGED
    pos = np.searchsorted(srec, other[m])
    ok = (pos < len(srec)) & (srec[np.minimum(pos, len(srec) - 1)] == other[m])
    tmp = np.full(m.sum(), -1)
    tmp[ok] = order[pos[ok]]
    idx_other[m] = tmp
    # follow the chains (absorbers always die later, so chains are finite)
    todo = np.flatnonzero(m)
    cur = idx_other[todo]
    while len(todo):
        bad = cur < 0
        final[todo[bad]] = ALIVE
        todo, cur = todo[~bad], cur[~bad]
        done = fate[cur] != MERGED
        final[todo[done]] = fate[cur[done]]
        todo, cur = todo[~done], idx_other[cur[~done]]
    return final


def lineage_birth_time(
    rec: np.ndarray,
    birth_time: np.ndarray,
    death_time: np.ndarray,
    fate: np.ndarray,
    other: np.ndarray,
) -> np.ndarray:
    """Birth time of each domain counted as the papers' group counts it: a domain keeps the
    earliest birth time of everything that merged into it (transitively).

    A domain that merged away dies before the domain that absorbed it, so walking the
    merges in order of death time passes each lineage's earliest birth forward.
    """
    order = np.argsort(rec)
    srec = rec[order]
    earliest = birth_time.astype(float).copy()
    merged = np.flatnonzero(fate == MERGED)
    merged = merged[np.argsort(death_time[merged], kind="stable")]
    pos = np.searchsorted(srec, other[merged])
    for row, k in zip(merged, pos, strict=True):
        if k < len(srec) and srec[k] == other[row]:
            target = order[k]
            earliest[target] = min(earliest[target], earliest[row])
    return earliest


@dataclass
class Committor:
    """P(extraction | the domain reached size n), with binomial errors and a sigmoid fit."""

    sizes: np.ndarray
    p: np.ndarray
    err: np.ndarray
    count: np.ndarray
    n_c: float
    width: float
    n_half_empirical: float

    def as_dict(self) -> dict:
        return {
            "n_c": self.n_c,
            "width": self.width,
            "n_half_empirical": self.n_half_empirical,
            "sizes": self.sizes.tolist(),
            "p": self.p.tolist(),
            "err": self.err.tolist(),
            "count": self.count.tolist(),
        }


def _sigmoid(n: np.ndarray, n_c: float, w: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(n - n_c) / w))


def committor(
    birth_size: np.ndarray, max_size: np.ndarray, final_fate: np.ndarray, n_max: int
) -> Committor:
    """Operational committor from domain life histories.

    A domain with birth size b and maximum size m visited every size in [b, m]
    (sizes change by one molecule per event, except merges and splits, where the
    interval is a slight over-count). Among domains that reached n, the fraction
    finally extracted estimates the probability that a domain of size n is
    eventually extracted; censored (ALIVE) domains are left out.
    """
    keep = final_fate != ALIVE
    b, m = birth_size[keep], np.minimum(max_size[keep], n_max)
    ext = final_fate[keep] == EXTRACTED
    sizes = np.arange(1, n_max + 1)
    # count[n] = #{b <= n <= m} by difference arrays
    reach = np.zeros(n_max + 2)
    np.add.at(reach, np.clip(b, 1, n_max + 1), 1)
    np.add.at(reach, m + 1, -1)
    hits = np.zeros(n_max + 2)
    np.add.at(hits, np.clip(b[ext], 1, n_max + 1), 1)
    np.add.at(hits, m[ext] + 1, -1)
    count = np.cumsum(reach)[1 : n_max + 1]
    nh = np.cumsum(hits)[1 : n_max + 1]
    ok = count > 0
    p = np.where(ok, nh / np.maximum(count, 1), np.nan)
    err = np.where(ok, np.sqrt(np.clip(p * (1 - p), 1e-12, None) / np.maximum(count, 1)), np.nan)
    n_half = float("nan")
    above = np.flatnonzero(ok & (p >= 0.5))
    if len(above):
        k = above[0]
        if k > 0 and ok[k - 1]:
            n_half = float(sizes[k - 1] + (0.5 - p[k - 1]) / (p[k] - p[k - 1]))
        else:
            n_half = float(sizes[k])
    n_c, width = float("nan"), float("nan")
    fit = ok & (count >= 20)
    if fit.sum() >= 4 and np.nanmax(p[fit]) > 0.5 and np.nanmin(p[fit]) < 0.5:
        try:
            sig = np.maximum(err[fit], 1e-3)
            (n_c, width), _ = curve_fit(
                _sigmoid,
                sizes[fit],
                p[fit],
                p0=[n_half if np.isfinite(n_half) else n_max / 2, max(1.0, n_max / 10)],
                sigma=sig,
                maxfev=10000,
            )
            n_c, width = float(n_c), float(abs(width))
        except RuntimeError:
            pass
    return Committor(sizes, p, err, count.astype(np.int64), n_c, width, n_half)


def sigmoid(n: np.ndarray, n_c: float, width: float) -> np.ndarray:
    """The logistic curve fitted to the committor."""
    return _sigmoid(np.asarray(n, dtype=float), n_c, width)
