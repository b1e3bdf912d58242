"""The physics-inspired descriptors of GlassMLP (Jung, Biroli, Berthier, PRL 130, 238202).

For every particle i, neighbour channel beta (each species, then all species) and
coarse-graining length L, with w_ij = exp(-r_ij / L) and the particle itself counted with
weight 1 when it belongs to beta (the definitions of the authors' code,
GerhardJung/StructDynGlass `struct_ml.cpp`, which partycls implements as
`PhysicsInspiredDescriptor`):

    rho_i   = sum_{j in beta} w_ij                           (coarse-grained density)
    E_i     = sum_{j in beta} w_ij E_j / rho_i               (potential energy)
    C_i     = sum_{j in beta} w_ij C_j / rho_i               (cell surface; perimeter in 2D)
    VarE_i  = sum_{j in beta} w_ij (E_j - E_i)^2 / rho_i     (local energy variance)

The cell C_j is the surface of particle j's radical (power) Voronoi cell with radii per
species (0.5, 0.44, 0.47 by default), as in the authors' code (`calc_voronoi`);
`voronoi: standard` takes plain Voronoi cells instead.

L = 0 keeps only the particle itself (its raw values, or zeros when it is not in beta).
A channel with no particle in reach gives zeros. The sums run over every pair closer
than the radius where the kernel's neglected weight falls below `neglected_weight` (the
tail of r^(d-1) exp(-r/L) beyond R), capped at half the smallest box edge (minimum
image; partycls' default cut-off); `cutoff` fixes R instead. The authors' code sums over
every minimum-image pair instead (docs/descriptors.md lists this and the other
differences).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from glassml.features.energy import particle_energies, resolve_table
from glassml.features.spec import FeatureSpecError, PhysicsInspiredSpec
from glassml.features.structure import Structure, _fmt, capped_radius
from glassml.features.voronoi import radical_cells, voronoi_cells

#: the four observables, in column order within each (L, channel) block
OBSERVABLES = ("rho", "epot", "cell", "epot_var")


def sum_radius(st: Structure, spec: PhysicsInspiredSpec, length: float) -> float:
    """Pair radius of the sums at length L: the tail radius of exp(-r/L) at
    `neglected_weight` (or `cutoff`), at most half the smallest box edge."""
    wanted = spec.wanted_radius(length, st.dim)
    return capped_radius(st, wanted, f"physics_inspired, L = {length:g}")


def cell_surfaces(st: Structure, spec: PhysicsInspiredSpec) -> np.ndarray:
    """[N] surfaces (perimeters in 2D) of the cells `spec.voronoi` asks for."""
    if spec.voronoi == "standard":
        return voronoi_cells(st)[1]
    if len(spec.voronoi_radii) < st.num_species:
        raise FeatureSpecError(
            f"{st.source or 'structure'}: physics_inspired.voronoi_radii="
            f"{list(spec.voronoi_radii)} gives no radius for species "
            f"{list(range(len(spec.voronoi_radii), st.num_species))} of {st.num_species}"
        )
    return radical_cells(st, spec.voronoi_radii[: st.num_species])[1]


def physics_inspired(st: Structure, spec: PhysicsInspiredSpec) -> tuple[np.ndarray, list[str]]:
    """[N, 4 * len(lengths) * channels] descriptors and their names (module docstring)."""
    radii = [sum_radius(st, spec, length) for length in spec.lengths if length > 0]
    if radii:
        st.pairs(max(radii))  # one pair list for everything below (energies included)
    energy = particle_energies(st, resolve_table(st, spec))
    cell = cell_surfaces(st, spec)
    fields = np.stack([energy, cell, energy * energy], axis=1)  # [N, 3]
    channels = st.channels(spec.species)
    masks = [
        np.ones(st.n) if s is None else (st.types == s).astype(np.float64) for _, s in channels
    ]
    # right-hand side [N, 4 * channels]: per channel [in_beta, in_beta*E, in_beta*C, in_beta*E^2]
    rhs = np.concatenate([np.column_stack([m, m[:, None] * fields]) for m in masks], axis=1)
    cols, names = [], []
    for length in spec.lengths:
        if length > 0:
            radius = sum_radius(st, spec, length)
            p = st.pairs(radius)
            keep = p.r < radius
            w = np.exp(-p.r[keep] / length)
            indptr = np.zeros(st.n + 1, dtype=np.int64)
            np.cumsum(np.bincount(p.dst[keep], minlength=st.n), out=indptr[1:])
            a = sparse.csr_matrix((w, p.src[keep], indptr), shape=(st.n, st.n))
            total = a @ rhs + rhs  # neighbours, plus the particle itself at weight 1
        else:
            total = rhs
        for k, (label, _) in enumerate(channels):
            rho, s_e, s_c, s_e2 = (total[:, 4 * k + q] for q in range(4))
            ok = rho > 0
            safe = np.where(ok, rho, 1.0)
            mean_e = np.where(ok, s_e / safe, 0.0)
            mean_c = np.where(ok, s_c / safe, 0.0)
            var_e = np.where(ok, np.clip(s_e2 / safe - mean_e * mean_e, 0.0, None), 0.0)
            cols += [rho, mean_e, mean_c, var_e]
            names += [f"phys_{obs}_L{_fmt(length)}_{label}" for obs in OBSERVABLES]
    return np.stack(cols, axis=1), names
