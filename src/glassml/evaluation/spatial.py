"""Spatial correlation function of propensity and its correlation length.

Definition (per species s, one time scale): with dp_i = p_i - mean of p over the s
particles of the same configuration,

    C(r) = < dp_i dp_j >_{pairs i != j with |r_ij| in the bin of r} / < dp_i^2 >,

pairs under periodic boundaries, sums accumulated over all configurations before the
division (so every pair weighs the same). C is 1 at r = 0 by construction (the self
term, not included in the bins) and decays to 0 at large r.

Bins with fewer than `min_pairs` pairs (the sparsely populated core of the pair
distribution) are left out (NaN). Correlation length (the "integral" length, robust to
noisy tails):

    xi = integral from r_min to r_0 of C(r) dr / max C on [r_min, r_0),

with r_min the first bin kept and r_0 the first zero crossing of C after it. For
C(r) = C(r_min) exp(-(r - r_min) / xi) and r_0 -> infinity this is xi exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glassml.pbc import periodic_edges


@dataclass
class SpatialCorrelation:
    """Binned correlation functions of one or more fields sharing the same pairs."""

    r: np.ndarray  # [B] bin centres
    c: np.ndarray  # [F, B] correlation per field; NaN in empty bins
    pairs: np.ndarray  # [B] number of ordered pairs per bin

    def length(self, field: int = 0) -> float:
        return correlation_length(self.r, self.c[field])


def correlation_length(r: np.ndarray, c: np.ndarray) -> float:
    """Integral correlation length of a binned C(r) (module docstring); NaN if undefined."""
    ok = np.isfinite(c)
    if not ok.any():
        return float("nan")
    r, c = r[ok], c[ok]
    if c[0] <= 0:
        return float("nan")
    below = np.nonzero(c <= 0)[0]
    end = below[0] if below.size else len(c)
    rr, cc = r[:end], c[:end]
    peak = float(cc.max())
    if end < len(c):  # close the integral at the linearly interpolated zero crossing
        r0 = r[end - 1] + (r[end] - r[end - 1]) * c[end - 1] / (c[end - 1] - c[end])
        rr, cc = np.append(rr, r0), np.append(cc, 0.0)
    if rr.size < 2:
        return float("nan")
    return float(np.trapezoid(cc, rr) / peak)


def spatial_correlation(
    positions: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    fields: Sequence[Sequence[np.ndarray]],
    r_max: float = 5.0,
    bin_width: float = 0.1,
    min_pairs: int = 0,
) -> SpatialCorrelation:
    """C(r) of each field over all configurations.

    positions[k]: [N_k, d] of configuration k; boxes[k]: [d];
    fields[f][k]: [N_k] values of field f (e.g. true and predicted propensity) in k.
    `r_max` is capped at half the smallest box edge (minimum image).
    """
    if not positions:
        raise ValueError("spatial correlation needs at least one configuration")
    r_max = min(float(r_max), 0.5 * min(float(np.min(b)) for b in boxes))
    edges_r = np.arange(0.0, r_max + 1e-12, bin_width)
    n_bins = len(edges_r) - 1
    n_f = len(fields)
    num = np.zeros((n_f, n_bins))
    pairs = np.zeros(n_bins)
    var_sum = np.zeros(n_f)
    n_particles = 0
    for k, (pos, box) in enumerate(zip(positions, boxes, strict=True)):
        dev = []
        for f in range(n_f):
            v = np.asarray(fields[f][k], dtype=np.float64)
            dev.append(v - v.mean())
            var_sum[f] += np.sum(dev[-1] ** 2)
        n_particles += len(pos)
        if len(pos) < 2:
            continue
        ei, vec = periodic_edges(pos, box, r_max, self_loops=False)
        dist = np.linalg.norm(vec, axis=1)
        b = np.minimum((dist / bin_width).astype(np.int64), n_bins - 1)
        pairs += np.bincount(b, minlength=n_bins)[:n_bins]
        for f in range(n_f):
            prod = dev[f][ei[0]] * dev[f][ei[1]]
            num[f] += np.bincount(b, weights=prod, minlength=n_bins)[:n_bins]
    var = var_sum / max(n_particles, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = num / pairs[None, :] / var[:, None]
    c[:, (pairs == 0) | (pairs < min_pairs)] = np.nan
    return SpatialCorrelation(r=0.5 * (edges_r[:-1] + edges_r[1:]), c=c, pairs=pairs)
