"""Descriptor families by config name, and the per-configuration descriptor pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from glassml.features.density import local_density
from glassml.features.energy import potential_energy
from glassml.features.entropy import excess_entropy
from glassml.features.physics_inspired import physics_inspired
from glassml.features.radial import radial_functions
from glassml.features.spec import (
    SPEC_CLASSES,
    BaseSpec,
    DensitySpec,
    PhysicsInspiredSpec,
    RadialSpec,
)
from glassml.features.steinhardt import bond_order
from glassml.features.structure import Structure, coarse_grain, half_box
from glassml.features.voronoi import voronoi_descriptors

Family = Callable[[Structure, BaseSpec], tuple[np.ndarray, list[str]]]

FAMILIES: dict[str, Family] = {
    "density": local_density,  # type: ignore[dict-item]
    "energy": potential_energy,  # type: ignore[dict-item]
    "voronoi": voronoi_descriptors,  # type: ignore[dict-item]
    "steinhardt": bond_order,  # type: ignore[dict-item]
    "radial": radial_functions,  # type: ignore[dict-item]
    "s2": excess_entropy,  # type: ignore[dict-item]
    "physics_inspired": physics_inspired,  # type: ignore[dict-item]
}
assert set(FAMILIES) == set(SPEC_CLASSES)

#: The file key of each position set (as glassml.data.io.POSITION_KEYS).
POSITION_FILE_KEYS = {
    "equilibrium": "initial_positions",
    "inherent": "initial_positions_inherent",
    "cage": "initial_positions_cage",
}


class MissingPositionsError(ValueError):
    """A descriptor asks for positions the file does not hold."""


def _missing(source: str, k: int, spec: BaseSpec, key: str) -> MissingPositionsError:
    file_key = POSITION_FILE_KEYS[spec.positions]
    hint = (
        "glassml-simulate writes it for every configuration (FIRE minimisation, "
        "simulator.fire.ftol / simulator.fire.max_steps): regenerate the dataset with "
        "glassml-simulate"
        if spec.positions == "inherent"
        else "glassml-simulate writes it (simulator.cage_time); regenerate the dataset"
    )
    return MissingPositionsError(
        f"{source}: {key}[{k}] ({spec.name}) is computed on positions={spec.positions}, "
        f"but the file has no key '{file_key}'; {hint}, or set {key}[{k}].positions="
        "equilibrium"
    )


def apply_spec(st: Structure, spec: BaseSpec) -> tuple[np.ndarray, list[str]]:
    """One family's raw values, then their coarse-grained means (and variances)."""
    values, names = FAMILIES[spec.name](st, spec)
    # density, radial functions and the physics-inspired set coarse-grain themselves
    if spec.lengths and not isinstance(spec, (DensitySpec, RadialSpec, PhysicsInspiredSpec)):
        cg, cg_names = coarse_grain(
            st,
            values,
            names,
            spec.lengths,
            spec.kernel,
            spec.truncate,
            spec.species,
            variance=bool(getattr(spec, "variance", False)),
        )
        values, names = np.concatenate([values, cg], axis=1), names + cg_names
    return values, names


def compute_descriptors(
    positions: Mapping[str, np.ndarray],
    types: np.ndarray,
    box: np.ndarray,
    num_species: int,
    specs: Sequence[BaseSpec],
    source: str = "",
    key: str = "dataset.node_features",
) -> tuple[np.ndarray, list[str]]:
    """All descriptors of one configuration: float64 [N, F] and the F column names.

    `positions` maps equilibrium/inherent/cage to [N, d] arrays (those the file has).
    """
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    structures: dict[str, Structure] = {}
    cols: list[np.ndarray] = []
    names: list[str] = []
    for k, spec in enumerate(specs):
        if spec.positions not in positions:
            raise _missing(source, k, spec, key)
        st = structures.get(spec.positions)
        if st is None:
            pos = np.asarray(positions[spec.positions], dtype=np.float64)
            dim, cap = pos.shape[1], half_box(box)
            hint = max(s.radius(dim, cap) for s in specs if s.positions == spec.positions)
            st = Structure(
                positions=np.mod(pos, box),
                types=np.asarray(types, dtype=np.int64),
                box=box,
                num_species=int(num_species),
                source=source,
                radius_hint=hint,
            )
            structures[spec.positions] = st
        values, spec_names = apply_spec(st, spec)
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(f"{source}: {key}[{k}] ({spec.name}) gave NaN/inf values")
        cols.append(values)
        names += spec_names
    if not cols:
        return np.zeros((len(types), 0)), []
    return np.concatenate(cols, axis=1), names
