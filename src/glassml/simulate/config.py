"""Validated specification of a propensity-dataset simulation.

The Hydra config is checked here, before any work starts: unknown keys, wrong types and
impossible physics raise `ConfigError` naming the key (as `simulator.<key>`) and what was
expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from glassml.simulate.potential import TRUNCATIONS, LJTable
from glassml.specs import build_spec


class ConfigError(ValueError):
    """A simulator config value is missing, unknown or impossible."""


@dataclass(frozen=True)
class PotentialSpec:
    name: str
    epsilon: list
    sigma: list
    cutoff: float
    truncation: str = "shift"  # shift | smooth (see glassml.simulate.potential)

    @property
    def table(self) -> LJTable:
        return LJTable.from_lists(self.epsilon, self.sigma, self.cutoff, self.truncation)


@dataclass(frozen=True)
class ThermostatSpec:
    kind: str = "bussi"
    tau: float = 0.5


@dataclass(frozen=True)
class TimesSpec:
    spacing: str = "log"
    min: float = 0.1
    max: float = 100.0
    num: int = 8
    values: list | None = None


@dataclass(frozen=True)
class BondBreakingSpec:
    r_in: float = 1.4
    r_out: float = 1.8


@dataclass(frozen=True)
class FireSpec:
    ftol: float = 1e-6
    max_steps: int = 100_000


@dataclass(frozen=True)
class CrystalSpec:
    check: bool = True
    q_threshold: float = 0.7
    solid_bonds: int = 7
    r_max: float = 1.5
    max_solid_fraction: float = 0.05


@dataclass(frozen=True)
class SimulationSpec:
    name: str
    dim: int
    N: int
    fractions: list
    density: float
    T: float
    dt: float
    potential: PotentialSpec
    output_dir: str
    skin: float = 0.3
    thermostat: ThermostatSpec = field(default_factory=ThermostatSpec)
    melt_T: float = 2.0
    melt_time: float = 10.0
    tau_alpha: float = 10.0
    equilibration_taus: float = 30.0
    spacing_taus: float = 2.0
    n_configs: int = 10
    n_iso: int = 16
    iso_ensemble: str = "nve"
    times: TimesSpec = field(default_factory=TimesSpec)
    cage_radius: float = 1.45
    cage_time: float = 1.0
    bond_breaking: BondBreakingSpec = field(default_factory=BondBreakingSpec)
    fire: FireSpec = field(default_factory=FireSpec)
    crystal: CrystalSpec = field(default_factory=CrystalSpec)
    save_runs: bool = True
    seed: int = 0
    workers: int | str = "auto"
    threads: int | str = "auto"
    engine: str = "numba"
    device: str = "cpu"
    configs_per_batch: int | str = "auto"
    _target_: str = ""

    # --- derived quantities --------------------------------------------------------------
    @property
    def box(self) -> np.ndarray:
        return np.full(self.dim, (self.N / self.density) ** (1.0 / self.dim))

    @property
    def counts(self) -> np.ndarray:
        """Particles per species: largest-remainder rounding of N * fractions."""
        exact = np.asarray(self.fractions, dtype=float) * self.N
        counts = np.floor(exact).astype(int)
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[: self.N - counts.sum()]] += 1
        return counts

    @property
    def table(self) -> LJTable:
        return self.potential.table

    @property
    def output_steps(self) -> np.ndarray:
        """Integer step counts of the output times (unique, >= 1)."""
        t = self.times
        if t.spacing == "list":
            values = np.asarray(t.values, dtype=float)
        elif t.spacing == "log":
            values = np.geomspace(t.min, t.max, t.num)
        else:
            values = np.linspace(t.min, t.max, t.num)
        return np.unique(np.maximum(np.rint(values / self.dt).astype(int), 1))

    @property
    def output_times(self) -> np.ndarray:
        return self.output_steps * self.dt

    @property
    def n_workers(self) -> int:
        if self.workers == "auto":
            return max(1, min(os.cpu_count() or 1, self.n_configs * self.n_iso))
        return int(self.workers)

    def batch_configs(self, device: str) -> int:
        """Configurations whose iso runs form one Warp batch: on a GPU enough for about
        half a million particles (one 32 x 4096 batch fills an H100 only partly), on a CPU
        one (the kernels use all cores either way)."""
        if self.configs_per_batch != "auto":
            return int(self.configs_per_batch)
        if device == "cpu":
            return 1
        return max(1, (1 << 19) // (self.n_iso * self.N))

    @property
    def n_threads(self) -> int:
        """Threads of the sampling chain; the iso runs split them over the workers."""
        if self.threads == "auto":
            return numba.config.NUMBA_NUM_THREADS
        return min(int(self.threads), numba.config.NUMBA_NUM_THREADS)


_NESTED = {
    "potential": PotentialSpec,
    "thermostat": ThermostatSpec,
    "times": TimesSpec,
    "bond_breaking": BondBreakingSpec,
    "fire": FireSpec,
    "crystal": CrystalSpec,
}


def _require(ok: bool, key: str, expected: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"simulator.{key} must be {expected} (got {got!r})")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def spec_from_config(cfg: Any) -> SimulationSpec:
    """Validate a simulator config (DictConfig or dict) and return its spec."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    spec = build_spec(SimulationSpec, dict(cfg), "simulator", ConfigError, _NESTED)
    _validate(spec)
    return spec


def _validate(s: SimulationSpec) -> None:
    _require(s.dim in (2, 3), "dim", "2 or 3", s.dim)
    _require(isinstance(s.N, int) and s.N >= 2, "N", "an integer >= 2", s.N)
    for key in ("density", "T", "dt", "tau_alpha", "melt_T", "cage_radius", "cage_time"):
        value = getattr(s, key)
        _require(_is_number(value) and value > 0, key, "a positive number", value)
    for key in ("melt_time", "equilibration_taus", "spacing_taus", "skin"):
        value = getattr(s, key)
        _require(_is_number(value) and value >= 0, key, "a number >= 0", value)
    _require(
        isinstance(s.n_configs, int) and s.n_configs >= 1,
        "n_configs",
        "an integer >= 1",
        s.n_configs,
    )
    _require(isinstance(s.n_iso, int) and s.n_iso >= 1, "n_iso", "an integer >= 1", s.n_iso)
    _require(s.iso_ensemble in ("nve", "nvt"), "iso_ensemble", "'nve' or 'nvt'", s.iso_ensemble)
    _require(
        s.workers == "auto" or (isinstance(s.workers, int) and s.workers >= 1),
        "workers",
        "'auto' or an integer >= 1",
        s.workers,
    )
    _require(
        s.threads == "auto" or (isinstance(s.threads, int) and s.threads >= 1),
        "threads",
        "'auto' or an integer >= 1",
        s.threads,
    )
    _require(isinstance(s.seed, int) and s.seed >= 0, "seed", "an integer >= 0", s.seed)
    _require(s.engine in ("numba", "warp"), "engine", "'numba' or 'warp'", s.engine)
    _require(s.device in ("cpu", "cuda", "auto"), "device", "cpu, cuda or auto", s.device)
    _require(
        s.engine == "warp" or s.device == "cpu",
        "device",
        "cpu with engine=numba (GPU runs need simulator.engine=warp)",
        s.device,
    )
    _require(
        s.configs_per_batch == "auto"
        or (isinstance(s.configs_per_batch, int) and s.configs_per_batch >= 1),
        "configs_per_batch",
        "'auto' or an integer >= 1",
        s.configs_per_batch,
    )
    _require(bool(s.output_dir), "output_dir", "a directory path", s.output_dir)

    fr = np.asarray(s.fractions, dtype=float)
    ns = fr.size
    _require(
        fr.ndim == 1 and ns >= 1 and np.all(fr >= 0),
        "fractions",
        "a list of non-negative numbers, one per species",
        s.fractions,
    )
    _require(abs(fr.sum() - 1.0) < 1e-6, "fractions", "a list summing to 1", s.fractions)
    counts = s.counts
    _require(
        bool(np.all(counts[fr > 0] >= 1)),
        "N",
        f"large enough to give every species with a non-zero fraction at least one "
        f"particle (counts {counts.tolist()})",
        s.N,
    )

    p = s.potential
    for key in ("epsilon", "sigma"):
        m = np.asarray(getattr(p, key), dtype=float)
        _require(
            m.shape == (ns, ns),
            f"potential.{key}",
            f"a {ns}x{ns} matrix (one row per species in fractions)",
            getattr(p, key),
        )
        _require(
            bool(np.allclose(m, m.T)) and bool(np.all(m > 0)),
            f"potential.{key}",
            "a symmetric matrix of positive numbers",
            getattr(p, key),
        )
    _require(
        p.truncation in TRUNCATIONS,
        "potential.truncation",
        f"one of {list(TRUNCATIONS)}",
        p.truncation,
    )
    cut = np.asarray(p.cutoff, dtype=float)
    _require(
        bool(np.all(cut > 0)) and cut.shape in ((), (ns, ns)),
        "potential.cutoff",
        f"a positive number or {ns}x{ns} matrix (in units of sigma_ab)",
        p.cutoff,
    )
    rmax = s.table.max_rcut
    box = float(s.box[0])
    _require(
        box > 2 * rmax,
        "N",
        f"large enough for a box longer than twice the cut-off {rmax:.3g}: the box at "
        f"N={s.N}, density={s.density} is {box:.3g}",
        s.N,
    )

    _require(s.thermostat.kind == "bussi", "thermostat.kind", "'bussi'", s.thermostat.kind)
    _require(
        _is_number(s.thermostat.tau) and s.thermostat.tau > 0,
        "thermostat.tau",
        "a positive number",
        s.thermostat.tau,
    )

    t = s.times
    _require(
        t.spacing in ("log", "linear", "list"), "times.spacing", "log, linear or list", t.spacing
    )
    if t.spacing == "list":
        vals = np.asarray(t.values if t.values is not None else [], dtype=float)
        _require(
            vals.ndim == 1 and vals.size >= 1 and bool(np.all(vals > 0)),
            "times.values",
            "a non-empty list of positive times when times.spacing=list",
            t.values,
        )
    else:
        _require(
            _is_number(t.min) and _is_number(t.max) and 0 < t.min <= t.max,
            "times",
            "0 < min <= max",
            {"min": t.min, "max": t.max},
        )
        _require(isinstance(t.num, int) and t.num >= 1, "times.num", "an integer >= 1", t.num)
    if s.cage_time > s.output_times[-1]:
        raise ConfigError(
            f"simulator.cage_time must not exceed the last output time "
            f"{s.output_times[-1]:.4g} (got {s.cage_time})"
        )

    bb = s.bond_breaking
    _require(
        0 < bb.r_in < bb.r_out,
        "bond_breaking",
        "0 < r_in < r_out",
        {"r_in": bb.r_in, "r_out": bb.r_out},
    )
    _require(
        bb.r_out * float(np.max(p.sigma)) < box / 2,
        "bond_breaking.r_out",
        "small enough that r_out * sigma stays below half the box",
        bb.r_out,
    )
    _require(
        s.cage_radius * float(np.max(p.sigma)) < box / 2,
        "cage_radius",
        "below half the box",
        s.cage_radius,
    )
    _require(
        s.fire.ftol > 0 and s.fire.max_steps >= 1,
        "fire",
        "ftol > 0 and max_steps >= 1",
        {"ftol": s.fire.ftol, "max_steps": s.fire.max_steps},
    )
    c = s.crystal
    _require(
        0 <= c.max_solid_fraction <= 1,
        "crystal.max_solid_fraction",
        "within [0, 1]",
        c.max_solid_fraction,
    )
    _require(0 < c.r_max < box / 2, "crystal.r_max", "positive and below half the box", c.r_max)
