"""One configuration as the descriptors see it, with its periodic pair list built once.

Every pair-based family (densities, energies, radial functions, s2, coarse-graining) reads
the same list of ordered pairs (vesin cell lists via `glassml.pbc.periodic_edges`), built
at the largest radius any requested descriptor needs and filtered for smaller ones.
"""

from __future__ import annotations

import logging
import math
import string
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse
from scipy.special import gammainc, gammainccinv

from glassml.pbc import vesin_frame

log = logging.getLogger(__name__)

#: species labels in descriptor names (as glassml.data.io.SPECIES_NAMES: 0=A, 1=B, ...)
SPECIES_NAMES = tuple(string.ascii_uppercase)


def periodic_pairs(positions: np.ndarray, box: np.ndarray, cutoff: float) -> Pairs:
    """Ordered pairs within `cutoff` under PBC, from vesin's cell list (distances only).

    As `glassml.pbc.periodic_edges` (2D as a non-periodic slab, vesin being 3D only) but
    without the displacement vectors, which the descriptors do not need: at the radii of
    coarse-graining (r ~ 6, ~1000 neighbours each) that halves the cost.
    """
    import vesin  # lazily: it imports torch

    pts, cell, periodic = vesin_frame(positions, box)
    # the half list and its mirror: about 3x faster than vesin's sorted full list
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=False, sorted=False)
    i, j, r = nl.compute(pts, cell, periodic, quantities="ijd")
    i, j = i.astype(np.int64), j.astype(np.int64)
    r = np.asarray(r, dtype=np.float64)
    src, dst, r = np.concatenate([j, i]), np.concatenate([i, j]), np.concatenate([r, r])
    # sorted by dst once, so that sparse neighbourhood matrices are built without a sort
    order = np.argsort(dst, kind="stable")
    return Pairs(src[order], dst[order], r[order])


class Pairs(NamedTuple):
    """Ordered pairs j -> i with i = dst (the particle described), j = src, distance r."""

    src: np.ndarray
    dst: np.ndarray
    r: np.ndarray


@dataclass
class Structure:
    """Positions (wrapped into [0, box)), species, box and the pair list of one configuration."""

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    num_species: int
    source: str = ""
    #: radius to build the pair list at on first use (the largest any descriptor needs)
    radius_hint: float = 0.0
    _pairs: Pairs | None = field(default=None, repr=False)
    _radius: float = 0.0
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.positions.shape[0])

    @property
    def dim(self) -> int:
        return int(self.positions.shape[1])

    @property
    def volume(self) -> float:
        return float(np.prod(self.box))

    def pairs(self, r_max: float) -> Pairs:
        """All ordered pairs i != j closer than `r_max` (every periodic image within reach),
        sorted by the described particle i = dst."""
        if self._pairs is None or r_max > self._radius:
            radius = max(r_max, self.radius_hint)
            self._pairs = periodic_pairs(self.positions, self.box, radius)
            self._radius = radius
            self._subsets: dict[float, Pairs] = {}
        if r_max >= self._radius:
            return self._pairs
        if r_max not in self._subsets:
            keep = self._pairs.r < r_max
            p = self._pairs
            self._subsets[r_max] = Pairs(p.src[keep], p.dst[keep], p.r[keep])
        return self._subsets[r_max]

    def neighbourhood(self, r_max: float, weights: np.ndarray) -> sparse.csr_matrix:
        """[N, N] matrix of pair weights (row i = dst), for the pairs of `pairs(r_max)`."""
        p = self.pairs(r_max)
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(p.dst, minlength=self.n), out=indptr[1:])
        return sparse.csr_matrix((weights, p.src, indptr), shape=(self.n, self.n))

    def channels(self, mode: str) -> list[tuple[str, int | None]]:
        """Neighbour-species channels: (label, species or None for all species)."""
        out: list[tuple[str, int | None]] = []
        if mode in ("each", "both"):
            out += [(SPECIES_NAMES[s], s) for s in range(self.num_species)]
        if mode in ("all", "both"):
            out.append(("all", None))
        return out


def kernel_weights(r: np.ndarray, length: float, kernel: str) -> np.ndarray:
    """exp(-r/L) or exp(-r^2 / 2L^2)."""
    if kernel == "exp":
        return np.exp(-r / length)
    return np.exp(-0.5 * (r / length) ** 2)


def kernel_volume(length: float, kernel: str, dim: int, radius: float = math.inf) -> float:
    """Integral of the kernel over the ball of `radius`: turns weighted counts into densities.

    exp: S_d L^d Gamma(d) P(d, R/L); gaussian: S_d (2L^2)^(d/2) Gamma(d/2) P(d/2, R^2/2L^2) / 2,
    with S_d the surface of the unit sphere and P the regularised lower incomplete gamma.
    """
    surface = 2.0 * math.pi ** (dim / 2) / math.gamma(dim / 2)
    if kernel == "exp":
        return surface * length**dim * math.gamma(dim) * float(gammainc(dim, radius / length))
    x = radius**2 / (2.0 * length**2)
    return (
        surface
        * 0.5
        * (2.0 * length**2) ** (dim / 2)
        * math.gamma(dim / 2)
        * float(gammainc(dim / 2, x))
    )


#: Default fraction of a kernel's radial weight left beyond the coarse-graining sums.
NEGLECTED_WEIGHT = 0.01

_CAPS_LOGGED: set[tuple[str, float, float]] = set()


def tail_radius(length: float, dim: int, neglected_weight: float, kernel: str = "exp") -> float:
    """R with int_R^inf w(r/L) r^(d-1) dr = `neglected_weight` * int_0^inf (same).

    exp: R/L = Q^-1(d, f); gaussian: R/L = sqrt(2 Q^-1(d/2, f)), with Q^-1 the inverse
    regularised upper incomplete gamma (substitute u = r/L, resp. u = r^2 / 2L^2).
    """
    if kernel == "exp":
        return float(length * gammainccinv(dim, neglected_weight))
    if kernel == "gaussian":
        return float(length * math.sqrt(2.0 * gammainccinv(dim / 2, neglected_weight)))
    raise ValueError(f"kernel={kernel!r}: expected 'exp' or 'gaussian'")


def half_box(box: np.ndarray) -> float:
    """Just under half the smallest box edge: below it no pair is counted in two images."""
    return 0.5 * float(np.min(box)) * (1.0 - 1e-9)


def capped_radius(st: Structure, wanted: float, what: str) -> float:
    """`wanted`, at most half the smallest box edge (minimum image, as partycls); logs the
    cap once per descriptor, radius and box size when it bites."""
    half = half_box(st.box)
    if wanted <= half:
        return float(wanted)
    key = (what, round(float(wanted), 6), round(half, 6))
    if key not in _CAPS_LOGGED:
        _CAPS_LOGGED.add(key)
        log.info(
            "%s: sum radius %.3g capped at half the box (%.3g); the kernel's weight beyond "
            "it is neglected (a larger box reaches the full radius)",
            what,
            wanted,
            half,
        )
    return half


def sum_radius(
    st: Structure,
    length: float,
    kernel: str,
    truncate: float | None,
    neglected_weight: float = NEGLECTED_WEIGHT,
) -> float:
    """Pair radius of a coarse-graining sum at length L: `truncate` * L when given (as
    before, uncapped); otherwise the radius where the kernel's neglected radial weight is
    `neglected_weight`, capped at half the box (`capped_radius`)."""
    if truncate is not None:
        return float(truncate) * length
    wanted = tail_radius(length, st.dim, neglected_weight, kernel)
    return capped_radius(st, wanted, f"{kernel} kernel, L = {length:g}")


def _fmt(x: float) -> str:
    return f"{x:g}"


def coarse_grain(
    st: Structure,
    values: np.ndarray,
    names: list[str],
    lengths: tuple[float, ...],
    kernel: str,
    truncate: float | None,
    species: str,
    variance: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Weighted means (and variances) of per-particle fields over neighbourhoods of size L.

    mean_i = (X_i [i in s] + sum_{j in s} w_ij X_j) / ([i in s] + sum_{j in s} w_ij), with
    w_ij = kernel(r_ij / L) for r_ij < R(L) (`sum_radius`: the 1%-tail radius capped at
    half the box, or truncate * L), for each neighbour-species channel s.
    A particle with no particle of channel s in reach gets the configuration's mean over s.
    """
    n = st.n
    x = np.asarray(values, dtype=np.float64).reshape(n, -1)
    x2 = x * x
    cols: list[np.ndarray] = []
    out_names: list[str] = []
    groups: list[int | None] = list(range(st.num_species)) if species != "all" else [None]
    masks = {s: np.ones(n) if s is None else (st.types == s).astype(np.float64) for s in groups}
    # right-hand sides for all species at once: [in_s, in_s x, in_s x^2] per species, so
    # that each length needs one sparse matrix and one product
    blocks = [
        np.column_stack([m, m[:, None] * x] + ([m[:, None] * x2] if variance else []))
        for m in masks.values()
    ]
    rhs = np.concatenate(blocks, axis=1)
    width = blocks[0].shape[1]
    f = x.shape[1]
    for length in lengths:
        radius = sum_radius(st, length, kernel, truncate)
        w = kernel_weights(st.pairs(radius).r, length, kernel)
        a = st.neighbourhood(radius, w)
        total = a @ rhs + rhs  # neighbours plus the particle itself (weight 1)
        sums: dict[int | None, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        for k, s in enumerate(groups):
            blk = total[:, k * width : (k + 1) * width]
            sums[s] = (blk[:, 0], blk[:, 1 : 1 + f], blk[:, 1 + f :] if variance else None)
        if species == "both":  # the all-species sums are the sums over species
            parts = list(sums.values())
            sums[None] = (
                sum(q[0] for q in parts),
                sum(q[1] for q in parts),
                sum(q[2] for q in parts) if variance else None,
            )
        for label, s in st.channels(species):
            weight, s1, s2 = sums[s]
            in_s = np.ones(n, bool) if s is None else st.types == s
            ok = weight > 0
            safe = np.where(ok, weight, 1.0)[:, None]
            mean = s1 / safe
            mean[~ok] = x[in_s].mean(axis=0) if in_s.any() else 0.0
            tag = f"cg{kernel}_L{_fmt(length)}_{label}"
            cols.append(mean)
            out_names += [f"{nm}_{tag}" for nm in names]
            if variance:
                var = s2 / safe - mean * mean
                var[~ok] = 0.0
                cols.append(np.clip(var, 0.0, None))
                out_names += [f"{nm}_var_{tag}" for nm in names]
    if not cols:
        return np.zeros((n, 0)), []
    return np.concatenate(cols, axis=1), out_names
