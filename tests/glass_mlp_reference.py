"""Independent reference for GlassMLP's correlation term: explicit loops over all pairs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def loop_mobility_correlation(
    q: np.ndarray, pos: np.ndarray, box: float, distances: Sequence[float]
) -> np.ndarray:
    """C(d) of mobilities q [n]: sum_i dq_i (sum_j G_d dq_j / sum_j G_d) / sum_i dq_i^2,
    G_d(r) = exp(-(r - d)^2 / 2), minimum image in a cubic (square) box, j = i included."""
    dq = q - q.mean()
    out = []
    for d in distances:
        total = 0.0
        for i in range(len(q)):
            num = den = 0.0
            for j in range(len(q)):
                delta = pos[i] - pos[j]
                delta -= box * np.round(delta / box)
                w = np.exp(-((np.sqrt((delta**2).sum()) - d) ** 2) / 2.0)
                num += w * dq[j]
                den += w
            total += dq[i] * num / den
        out.append(total / (dq**2).sum())
    return np.array(out)
