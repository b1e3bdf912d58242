"""Full (non-incremental) cluster labelling with periodic wrap.

This is the reference the incremental tracker is tested against, and what the
analysis of saved snapshots uses. ``scipy.ndimage.label`` has no periodic
option, so labels that touch across the boundary are merged afterwards with a
tiny union-find over the boundary pairs.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def periodic_label(occ: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected labels (1..n, 0 = empty) of a 2D boolean array with periodic wrap."""
    lab, n = ndimage.label(occ)
    if n == 0:
        return lab, 0
    parent = np.arange(n + 1)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    pairs = [(lab[:, 0], lab[:, -1]), (lab[0, :], lab[-1, :])]
    for a_arr, b_arr in pairs:
        both = (a_arr > 0) & (b_arr > 0)
        for a, b in zip(a_arr[both], b_arr[both], strict=True):
            ra, rb = find(int(a)), find(int(b))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(a) for a in range(n + 1)])
    uniq, inv = np.unique(roots, return_inverse=True)
    relabel = inv.astype(lab.dtype)  # root 0 stays 0 because label 0 is its own root
    return relabel[lab], len(uniq) - 1


def cluster_sizes(occ: np.ndarray) -> np.ndarray:
    """Sizes of all periodic 4-connected clusters of a 2D occupancy array."""
    lab, n = periodic_label(occ)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(lab.ravel())[1:]
