"""The iso-configurational ceiling: the best Pearson any model can reach with n runs.

The measured propensity is a mean over n iso-configurational runs,
p_n = p_inf + e_n, with Var(e_n) = sigma^2 / n independent of the structure. Even a
perfect predictor of p_inf then reaches only

    ceiling = corr(p_inf, p_n) = sqrt(R_n),   R_n = Var(p_inf) / Var(p_n),

where R_n (the reliability) is also the Pearson between two independent n-run
propensities. Estimator (split-half + Spearman-Brown):

1. split the n runs at random into two halves of n/2 (an odd last run is dropped);
2. r_half = Pearson between the two half-ensemble propensities;
3. R_n = 2 r_half / (1 + r_half)  (Spearman-Brown prophecy for doubling the ensemble);
4. ceiling = sqrt(R_n); average over `n_splits` random splits.

Computed per configuration and averaged (matches the per-configuration Pearson), and
pooled over all configurations (matches the pooled Pearson). Needs the per-run
displacements `md_prop_runs` [n_iso, n_times, N] that glassml-simulate stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glassml.evaluation.bootstrap import Moments


def spearman_brown(r: np.ndarray | float, factor: float = 2.0) -> np.ndarray:
    """Reliability of an ensemble `factor` times larger than the one with reliability r."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return factor * r / (1.0 + (factor - 1.0) * r)


@dataclass
class Ceiling:
    """Arrays [T]: split-half Pearson, full-ensemble reliability and ceiling."""

    n_runs: int
    r_half: dict[str, np.ndarray]  # "pooled" | "per_config" -> [T]
    reliability: dict[str, np.ndarray]
    ceiling: dict[str, np.ndarray]

    def to_dict(self) -> dict[str, object]:
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

        return {
            "n_runs": self.n_runs,
            "method": "split-half Pearson, Spearman-Brown to n runs, ceiling = sqrt(R_n)",
            "r_half": {k: clean(v) for k, v in self.r_half.items()},
            "reliability": {k: clean(v) for k, v in self.reliability.items()},
            "ceiling": {k: clean(v) for k, v in self.ceiling.items()},
        }


def ceiling_from_runs(
    runs: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
    n_splits: int = 20,
    seed: int = 0,
) -> Ceiling:
    """Ceiling per time scale from per-run displacements.

    runs[k]: [n_runs, T, N_k] of configuration k (all with the same n_runs and T);
    masks[k]: [N_k] bool selecting the particles scored (e.g. one species).
    """
    if not runs:
        raise ValueError("the ceiling needs at least one configuration with per-run data")
    n_runs = {int(r.shape[0]) for r in runs}
    n_t = {int(r.shape[1]) for r in runs}
    if len(n_runs) != 1 or len(n_t) != 1:
        raise ValueError(
            f"per-run data disagree across configurations: runs {sorted(n_runs)}, "
            f"time scales {sorted(n_t)}"
        )
    n = n_runs.pop()
    if n < 2:
        raise ValueError(f"the ceiling needs at least 2 runs per configuration, found {n}")
    half = n // 2
    rng = np.random.default_rng(seed)
    r_pool, r_cfg = [], []
    for _ in range(n_splits):
        xs, ys, groups = [], [], []
        for k, r in enumerate(runs):
            perm = rng.permutation(n)
            sel = slice(None) if masks is None else masks[k]
            a = np.asarray(r[perm[:half]], dtype=np.float64).mean(axis=0)[:, sel]
            b = np.asarray(r[perm[half : 2 * half]], dtype=np.float64).mean(axis=0)[:, sel]
            xs.append(a.T)
            ys.append(b.T)
            groups.append(np.full(a.shape[1], k))
        mom = Moments.from_groups(
            np.concatenate(xs), np.concatenate(ys), np.concatenate(groups), len(runs)
        )
        r_pool.append(mom.pooled())
        r_cfg.append(np.nanmean(mom.per_config(), axis=0))
    r_half = {"pooled": np.mean(r_pool, axis=0), "per_config": np.mean(r_cfg, axis=0)}
    # per configuration: Spearman-Brown on the mean split-half r (not on each split)
    reliability = {k: spearman_brown(v, n / half) for k, v in r_half.items()}
    ceiling = {k: np.sqrt(np.clip(v, 0.0, None)) for k, v in reliability.items()}
    return Ceiling(n_runs=n, r_half=r_half, reliability=reliability, ceiling=ceiling)
