"""Descriptor specs: one frozen dataclass per family, built and validated from config.

Specs are validated when the dataset is configured (before any file is read), so a typo
in a descriptor name or an impossible length stops the run at once with the config key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glassml.features.structure import NEGLECTED_WEIGHT, tail_radius

POSITIONS = ("equilibrium", "inherent", "cage")
KERNELS = ("exp", "gaussian")
#: Neighbour-species channels: one per species, species-blind, or both.
SPECIES_MODES = ("each", "all", "both")
#: Tessellations of GlassMLP's cell observable: power diagram with radii per species, or
#: plain Voronoi (glassml.features.voronoi)
VORONOI_MODES = ("radical", "standard")
L_RANGE = (2, 12)


class FeatureSpecError(ValueError):
    """A descriptor spec in the config is invalid; the message names the key."""


@dataclass(frozen=True)
class BaseSpec:
    """Options every family shares.

    positions: which stored positions the descriptor is computed on (inherent structure
    by default, as in GlassMLP). species: neighbour-species channels. lengths: coarse-
    graining lengths L (weighted mean over neighbours j, weight `kernel`(r_ij / L) with
    the particle itself at weight 1); empty: raw values only. The sums reach the radius
    where the kernel's neglected radial weight is 1% (capped at half the box), or
    `truncate` * L when `truncate` is given (uncapped, the behaviour of earlier versions).
    """

    name: str = ""
    positions: str = "inherent"
    species: str = "both"
    lengths: tuple[float, ...] = ()
    kernel: str = "exp"
    truncate: float | None = None

    def radius(self, dim: int = 3, half_box: float = math.inf) -> float:
        """Largest pair distance this descriptor needs in `dim` dimensions with the sums
        capped at `half_box` (0: no pair list)."""
        length = max(self.lengths, default=0.0)
        if not length > 0:
            return 0.0
        if self.truncate is not None:
            return self.truncate * length
        return min(tail_radius(length, dim, NEGLECTED_WEIGHT, self.kernel), half_box)


@dataclass(frozen=True)
class DensitySpec(BaseSpec):
    """Coarse-grained local density rho_i(L) = sum_j w(r_ij / L) / integral of w."""

    lengths: tuple[float, ...] = (1.0, 2.0, 3.0)


@dataclass(frozen=True)
class EnergySpec(BaseSpec):
    """Per-particle potential energy, plus its coarse-grained mean (and variance).

    potential: used only for files that store no simulator config (GlassBench): a
    simulator config name (`ka3d` reads conf/simulator/ka3d.yaml) or a mapping
    {epsilon, sigma, cutoff} as in those files.
    """

    species: str = "all"
    variance: bool = True
    potential: str | Mapping[str, Any] | None = "ka3d"


@dataclass(frozen=True)
class VoronoiSpec(BaseSpec):
    """Voronoi cell volume (area in 2D), surface (perimeter) and shape factor."""

    species: str = "all"


@dataclass(frozen=True)
class SteinhardtSpec(BaseSpec):
    """Bond-orientational order q_l (and normalised w_l) of neighbours within r_max.

    In 2D the analogue |psi_l| (freud's Hexatic with k = l) replaces q_l; w_l has no 2D
    analogue and is omitted there.
    """

    species: str = "all"
    l: tuple[int, ...] = tuple(range(2, 13))  # noqa: E741
    wl: bool = True
    r_max: float = 1.5

    def radius(self, dim: int = 3, half_box: float = math.inf) -> float:
        return max(super().radius(dim, half_box), self.r_max)


@dataclass(frozen=True)
class RadialSpec(BaseSpec):
    """Radial structure functions G_i(r; s) = sum_{j in s} exp(-(r_ij - r)^2 / 2 width^2)
    on shells r = r_min, r_min + dr, ..., r_max (Behler-Parrinello / Cubuk et al.)."""

    r_min: float = 0.8
    r_max: float = 3.0
    dr: float = 0.1
    width: float = 0.1

    def shells(self) -> list[float]:
        n = int(round((self.r_max - self.r_min) / self.dr)) + 1
        return [self.r_min + k * self.dr for k in range(n)]

    def radius(self, dim: int = 3, half_box: float = math.inf) -> float:
        return max(super().radius(dim, half_box), self.r_max + 4.0 * self.width)


@dataclass(frozen=True)
class EntropySpec(BaseSpec):
    """Two-body excess entropy s2 per particle (Piaggi & Parrinello, JCP 147, 114112):
    s2_i = -(rho/2) int [g_i ln g_i - g_i + 1] dV up to r_max, g_i smoothed with
    Gaussians of width sigma; with species channels, g_i^s uses the partial density."""

    species: str = "all"
    r_max: float = 5.0
    sigma: float = 0.15
    # integration step; the integrand varies on the scale sigma
    dr: float = 0.05

    def radius(self, dim: int = 3, half_box: float = math.inf) -> float:
        return max(super().radius(dim, half_box), self.r_max + 4.0 * self.sigma)


@dataclass(frozen=True)
class PhysicsInspiredSpec(BaseSpec):
    """GlassMLP's inputs (glassml.features.physics_inspired): coarse-grained density,
    potential energy, Voronoi surface (perimeter in 2D) and energy variance.

    lengths: coarse-graining lengths L >= 0 (0: the particle's own values). The sums
    reach the radius beyond which the kernel's neglected weight is below
    `neglected_weight` (capped at half the box), or `cutoff` when given. potential: as
    for `energy`. kernel and truncate do not apply (the kernel is exp(-r/L)).
    voronoi: `radical` cells (power diagram, particle radius `voronoi_radii[species]`,
    as the authors' code) or `standard` Voronoi cells (`voronoi_radii` unused).
    """

    lengths: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
    neglected_weight: float = 0.01
    cutoff: float | None = None
    potential: str | Mapping[str, Any] | None = "ka3d"
    voronoi: str = "radical"
    voronoi_radii: tuple[float, ...] = (0.5, 0.44, 0.47)

    def wanted_radius(self, length: float, dim: int) -> float:
        """Pair radius of the sums at length L before the half-box cap."""
        if self.cutoff is not None:
            return float(self.cutoff)
        return tail_radius(length, dim, self.neglected_weight, "exp")

    def radius(self, dim: int = 3, half_box: float = math.inf) -> float:
        length = max(self.lengths, default=0.0)
        if not length > 0:
            return 0.0
        return min(self.wanted_radius(length, dim), half_box)


SPEC_CLASSES: dict[str, type[BaseSpec]] = {
    "density": DensitySpec,
    "energy": EnergySpec,
    "voronoi": VoronoiSpec,
    "steinhardt": SteinhardtSpec,
    "radial": RadialSpec,
    "s2": EntropySpec,
    "physics_inspired": PhysicsInspiredSpec,
}

_POSITIVE = ("truncate", "r_max", "dr", "width", "sigma")


def _to_plain(value: Any) -> Any:
    """DictConfig/ListConfig -> dict/list without importing omegaconf here."""
    if hasattr(value, "_content"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    return value


def _float_tuple(key: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        value = [value]
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise FeatureSpecError(f"{key}: expected a list of numbers, got {value!r}") from exc
    return out


def parse_spec(item: Any, key: str) -> BaseSpec:
    """One spec from a mapping {name: ..., option: value}; `key` names it in errors."""
    item = _to_plain(item)
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping) or "name" not in item:
        raise FeatureSpecError(f"{key}: expected a mapping with a 'name', got {item!r}")
    name = item["name"]
    if name not in SPEC_CLASSES:
        raise FeatureSpecError(
            f"{key}.name: unknown descriptor '{name}'; choose one of {sorted(SPEC_CLASSES)}"
        )
    cls = SPEC_CLASSES[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(item) - set(fields))
    if unknown:
        raise FeatureSpecError(
            f"{key}: unknown option(s) {unknown} for descriptor '{name}'; "
            f"valid: {sorted(set(fields) - {'name'})}"
        )
    kwargs: dict[str, Any] = dict(item)
    for attr in ("lengths", "voronoi_radii"):
        if attr in kwargs:
            kwargs[attr] = _float_tuple(f"{key}.{attr}", kwargs[attr] or [])
    if "l" in kwargs:
        ls = kwargs["l"]
        ls = [ls] if isinstance(ls, int) else list(ls)
        if not ls or any(not isinstance(v, int) or isinstance(v, bool) for v in ls):
            raise FeatureSpecError(f"{key}.l: expected a list of integers, got {item['l']!r}")
        kwargs["l"] = tuple(ls)
    spec = cls(**kwargs)
    validate(spec, key)
    return spec


def validate(spec: BaseSpec, key: str) -> None:
    """Raise FeatureSpecError naming `key` for any impossible value."""

    def choice(attr: str, options: Sequence[str]) -> None:
        if getattr(spec, attr) not in options:
            raise FeatureSpecError(
                f"{key}.{attr}={getattr(spec, attr)!r}: expected one of {list(options)}"
            )

    choice("positions", POSITIONS)
    choice("species", SPECIES_MODES)
    choice("kernel", KERNELS)
    if isinstance(spec, PhysicsInspiredSpec):
        _validate_physics_inspired(spec, key)
    elif any(not length > 0 for length in spec.lengths):
        raise FeatureSpecError(f"{key}.lengths={list(spec.lengths)}: lengths must be > 0")
    if isinstance(spec, DensitySpec) and not spec.lengths:
        raise FeatureSpecError(f"{key}.lengths: the density needs at least one length")
    for attr in _POSITIVE:
        value = getattr(spec, attr, None)
        if value is not None and not float(value) > 0:
            raise FeatureSpecError(f"{key}.{attr}={value}: must be > 0")
    if isinstance(spec, SteinhardtSpec):
        lo, hi = L_RANGE
        bad = [v for v in spec.l if not lo <= v <= hi]
        if bad:
            raise FeatureSpecError(f"{key}.l={list(spec.l)}: l must be in {lo}..{hi}, got {bad}")
    if isinstance(spec, RadialSpec) and not 0 <= spec.r_min <= spec.r_max:
        raise FeatureSpecError(
            f"{key}: need 0 <= r_min <= r_max, got r_min={spec.r_min}, r_max={spec.r_max}"
        )
    if isinstance(spec, (EnergySpec, PhysicsInspiredSpec)) and spec.potential is not None:
        p = spec.potential
        if not isinstance(p, (str, Mapping)):
            raise FeatureSpecError(
                f"{key}.potential: expected a simulator config name or a mapping, got {p!r}"
            )
        if isinstance(p, Mapping):
            missing = {"epsilon", "sigma", "cutoff"} - set(p)
            if missing:
                raise FeatureSpecError(f"{key}.potential: missing {sorted(missing)}")


def _validate_physics_inspired(spec: PhysicsInspiredSpec, key: str) -> None:
    if not spec.lengths or any(not length >= 0 for length in spec.lengths):
        raise FeatureSpecError(
            f"{key}.lengths={list(spec.lengths)}: need at least one length, all >= 0"
        )
    if not 0.0 < spec.neglected_weight < 1.0:
        raise FeatureSpecError(f"{key}.neglected_weight={spec.neglected_weight}: must be in (0, 1)")
    if spec.cutoff is not None and not float(spec.cutoff) > 0:
        raise FeatureSpecError(f"{key}.cutoff={spec.cutoff}: must be > 0 (or null)")
    if spec.voronoi not in VORONOI_MODES:
        raise FeatureSpecError(
            f"{key}.voronoi={spec.voronoi!r}: expected one of {list(VORONOI_MODES)}"
        )
    if any(not r > 0 for r in spec.voronoi_radii):
        raise FeatureSpecError(
            f"{key}.voronoi_radii={list(spec.voronoi_radii)}: every radius must be > 0"
        )
    default = PhysicsInspiredSpec()
    for attr in ("kernel", "truncate"):
        if getattr(spec, attr) != getattr(default, attr):
            raise FeatureSpecError(
                f"{key}.{attr}: not used by physics_inspired (kernel exp(-r/L); the sum "
                "radius is set by neglected_weight or cutoff)"
            )


def parse_specs(items: Sequence[Any] | None, key: str = "dataset.node_features") -> list[BaseSpec]:
    """All specs of a config list, validated; None or [] gives no descriptors."""
    items = _to_plain(items)
    if items is None:
        return []
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence):
        raise FeatureSpecError(f"{key}: expected a list of descriptor specs, got {items!r}")
    return [parse_spec(item, f"{key}[{k}]") for k, item in enumerate(items)]


def spec_to_dict(spec: BaseSpec) -> dict[str, Any]:
    """JSON-ready form (cache keys, logs)."""
    out = dataclasses.asdict(spec)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


__all__ = [
    "SPEC_CLASSES",
    "BaseSpec",
    "DensitySpec",
    "EnergySpec",
    "EntropySpec",
    "FeatureSpecError",
    "PhysicsInspiredSpec",
    "RadialSpec",
    "SteinhardtSpec",
    "VoronoiSpec",
    "parse_specs",
    "spec_to_dict",
]
