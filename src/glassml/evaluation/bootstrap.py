"""Pearson correlations per configuration and their bootstrap confidence intervals.

The configurations of a test split are the independent samples (particles within one
configuration are correlated), so confidence intervals resample whole configurations
with replacement. Both Pearson flavours of the reports get an interval:

* per configuration: the mean of the per-configuration Pearsons over the resampled set;
* pooled: one Pearson over all particles of the resampled configurations, recomputed
  from per-configuration sufficient statistics (no particle data is copied).

Intervals are percentile intervals of `n_boot` resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """Per-configuration sufficient statistics of (x, y) pairs, arrays [C, T]."""

    n: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    sxx: np.ndarray
    syy: np.ndarray
    sxy: np.ndarray

    @classmethod
    def from_groups(cls, x: np.ndarray, y: np.ndarray, group: np.ndarray, n_groups: int) -> Moments:
        """x, y: [n, T]; group: [n] configuration index in [0, n_groups)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        group = np.asarray(group, dtype=np.int64)

        def seg(v: np.ndarray) -> np.ndarray:
            out = np.zeros((n_groups, v.shape[1]))
            np.add.at(out, group, v)
            return out

        # shift by the global mean for numerical stability of the sums of squares
        x = x - x.mean(axis=0)
        y = y - y.mean(axis=0)
        ones = np.ones_like(x)
        return cls(seg(ones), seg(x), seg(y), seg(x * x), seg(y * y), seg(x * y))

    def per_config(self) -> np.ndarray:
        """Pearson of each configuration [C, T]; NaN where undefined."""
        return _pearson(self.n, self.sx, self.sy, self.sxx, self.syy, self.sxy)

    def pooled(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Pearson of all particles together [T]; `weights` [C] counts each configuration."""
        w = np.ones(self.n.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        tot = [np.einsum("c,ct->t", w, a) for a in (self.n, self.sx, self.sy, self.sxx, self.syy)]
        sxy = np.einsum("c,ct->t", w, self.sxy)
        return _pearson(*tot, sxy)

    def pooled_boot(self, weights: np.ndarray) -> np.ndarray:
        """Pooled Pearson for many weight vectors at once: weights [B, C] -> [B, T]."""
        tot = [weights @ a for a in (self.n, self.sx, self.sy, self.sxx, self.syy, self.sxy)]
        return _pearson(*tot)


def _pearson(n, sx, sy, sxx, syy, sxy) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        cxy = sxy - sx * sy / n
        cxx = sxx - sx * sx / n
        cyy = syy - sy * sy / n
        r = cxy / np.sqrt(cxx * cyy)
    return np.where((n >= 2) & (cxx > 0) & (cyy > 0), r, np.nan)


@dataclass
class PearsonCI:
    """Point estimates and percentile intervals per time scale, arrays [T]."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def to_dict(self) -> dict[str, list[float | None]]:
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

        return {"value": clean(self.value), "low": clean(self.low), "high": clean(self.high)}


def resample_weights(n_configs: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n_configs] multiplicities of a bootstrap resample of configurations."""
    idx = rng.integers(0, n_configs, size=(n_boot, n_configs))
    w = np.zeros((n_boot, n_configs))
    np.add.at(w, (np.arange(n_boot)[:, None], idx), 1.0)
    return w


def bootstrap_pearson(
    moments: Moments, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, PearsonCI]:
    """Bootstrap CIs over configurations for the pooled and the per-configuration Pearson."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    n_cfg = moments.n.shape[0]
    rng = np.random.default_rng(seed)
    w = resample_weights(n_cfg, n_boot, rng)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]

    pooled_boot = moments.pooled_boot(w)
    per = moments.per_config()  # [C, T]
    valid = np.isfinite(per)
    per0 = np.where(valid, per, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_boot = (w @ per0) / (w @ valid.astype(np.float64))
        per_value = per0.sum(axis=0) / valid.sum(axis=0)
    out = {}
    for name, value, boot in (
        ("pooled", moments.pooled(), pooled_boot),
        ("per_config", per_value, per_boot),
    ):
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanpercentile(boot, q, axis=0) if n_cfg > 1 else (value * np.nan,) * 2
        out[name] = PearsonCI(np.asarray(value), np.asarray(lo), np.asarray(hi))
    return out
