"""Dynamic susceptibility chi4(t) from propensities, true and predicted.

Definition used throughout glassml (the mobility-overlap fluctuation of the GlassBench
roadmap, written for propensities so that it applies to predictions as well):

* a particle is *immobile* at time t when its propensity is below a threshold a(t):
  w_i(t) = 1 if p_i(t) < a(t), else 0;
* the overlap of configuration c is Q_c(t) = (1/N_s) sum_i w_i(t), over the N_s
  particles of the chosen species;
* chi4(t) = N_s * Var_c[Q_c(t)], the variance across configurations (ddof = 1).

The threshold is, by default, the `quantile` (0.5: the median) of the propensities of
all configurations together, taken separately for the true and for the predicted
values. Matching quantiles makes the two chi4 comparable although regression models
compress their predictions towards the mean; it measures whether a model reproduces the
configuration-to-configuration fluctuations of mobility. An absolute `threshold`
(same units as the targets) applies one fixed a to both instead.

With a `sharpness` k the step becomes the soft indicator w_i = (1 - tanh(k (p_i - a))) / 2
= sigmoid(2 k (a - p_i)): GlassMLP's authors (GerhardJung/StructDynGlass) compute chi4 =
Var_c(sum_i q_i) / N_s from the soft mobility q = 1 - w with a = 0.44, k = 20 (KA 3D; the
same value with w or q). k -> infinity gives the hard step back.

With `mobility="linear"` there is no threshold: w_i = p_i, the propensity itself, for
observables that are already a fraction in [0, 1] such as the bond-breaking one
(`bb_prop`): chi4 = N_s Var_c[mean_i p_i], the GlassMLP authors' chi4 of their KA 2D
bond-breaking run (machine_learning/KA2D, `chi4_true_standard`, of 1 - C_loc = bb_prop).

For independent Bernoulli mobilities with P(w = 1) = q, chi4 = q (1 - q) exactly
(tests check it); collective (heterogeneous) dynamics makes it larger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

MOBILITIES = ("indicator", "linear")


def chi4_from_mobility(w: np.ndarray) -> np.ndarray:
    """chi4 from (im)mobilities w in [0, 1], [C, N_s] or [C, N_s, T]: N_s * Var_c(mean_i w)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim not in (2, 3):
        raise ValueError(f"mobilities must be [configs, particles(, times)], got {w.shape}")
    if w.shape[0] < 2:
        raise ValueError("chi4 needs at least two configurations")
    q = w.mean(axis=1)
    return w.shape[1] * q.var(axis=0, ddof=1)


def overlap(
    prop: np.ndarray,
    quantile: float | None = 0.5,
    threshold: float | None = None,
    sharpness: float | None = None,
    mobility: str = "indicator",
) -> np.ndarray:
    """Weights w [C, N_s, T] from propensities [C, N_s, T] (see module doc): the immobile
    step [p < a], its soft form sigmoid(2 k (a - p)) with a `sharpness` k, or with
    `mobility="linear"` the propensities themselves."""
    if mobility not in MOBILITIES:
        raise ValueError(f"metrics.chi4.mobility={mobility!r}: expected one of {list(MOBILITIES)}")
    prop = np.asarray(prop, dtype=np.float64)
    if mobility == "linear":
        return prop.copy()
    if threshold is not None:
        a = np.full(prop.shape[-1], float(threshold))
    else:
        if quantile is None or not 0.0 < quantile < 1.0:
            raise ValueError(f"chi4 quantile must be in (0, 1), got {quantile}")
        a = np.quantile(prop.reshape(-1, prop.shape[-1]), quantile, axis=0)
    if sharpness is None:
        return (prop < a).astype(np.float64)
    if not sharpness > 0:
        raise ValueError(f"chi4 sharpness must be > 0 (or null for the step), got {sharpness}")
    return expit(2.0 * float(sharpness) * (a - prop))


@dataclass
class Chi4Result:
    """chi4 per time scale [T] for truth and prediction, and their ratio."""

    true: np.ndarray
    pred: np.ndarray
    mean_overlap_true: np.ndarray
    mean_overlap_pred: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.pred / self.true

    def to_dict(self) -> dict[str, list[float | None]]:
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

        return {
            "true": clean(self.true),
            "pred": clean(self.pred),
            "ratio": clean(self.ratio),
            "mean_overlap_true": clean(self.mean_overlap_true),
            "mean_overlap_pred": clean(self.mean_overlap_pred),
        }


def stack_species(
    values: np.ndarray, species: np.ndarray, config_index: np.ndarray, s: int
) -> np.ndarray:
    """[n, T] per-particle values -> [C, N_s, T] for species s; equal N_s per configuration."""
    m = species == s
    cfg = config_index[m]
    order = np.argsort(cfg, kind="stable")
    cfg = cfg[order]
    counts = np.bincount(cfg)
    counts = counts[counts > 0]
    if counts.size == 0:
        raise ValueError(f"no particles of species {s}")
    if np.any(counts != counts[0]):
        raise ValueError(
            f"chi4 needs the same number of species-{s} particles in every configuration, "
            f"found {sorted(set(counts.tolist()))}"
        )
    return values[m][order].reshape(counts.size, counts[0], -1)


def chi4(
    true: np.ndarray,
    pred: np.ndarray,
    quantile: float | None = 0.5,
    threshold: float | None = None,
    sharpness: float | None = None,
    mobility: str = "indicator",
) -> Chi4Result:
    """chi4(t) of true and predicted propensities, both [C, N_s, T]."""
    wt = overlap(true, quantile, threshold, sharpness, mobility)
    wp = overlap(pred, quantile, threshold, sharpness, mobility)
    return Chi4Result(
        chi4_from_mobility(wt),
        chi4_from_mobility(wp),
        wt.mean(axis=(0, 1)),
        wp.mean(axis=(0, 1)),
    )
