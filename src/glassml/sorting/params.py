"""Parameters of a sorting run, validated at config time with errors naming the key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from glassml.simulate.config import ConfigError
from glassml.sorting import kernel as K

RULES = {"gn": K.RULE_GN, "metropolis": K.RULE_METROPOLIS}
CRITERIA = {"size": K.CRIT_SIZE, "square": K.CRIT_SQUARE, "none": K.CRIT_SIZE}
INITS = ("empty", "random", "slab")
ANIMATIONS = ("none", "gif", "mp4")
# How k_D is attached to a molecule: "molecule" = k_D is a free molecule's total hop rate
# (k_D/4 * g**n per empty neighbour, this project's original convention); "neighbour" = k_D
# per empty neighbour (k_D * g**n, the rate in the papers' simulation code). Same physics
# when phi_neighbour = 4 * phi_molecule, with times shorter by 4 in the neighbour units.
HOP_RATE_PER = {"molecule": 1.0, "neighbour": 4.0}

# keys that change how a run is executed or stored, not what it simulates
RUN_KEYS = {"output_dir", "progress", "checkpoint_every", "buffer", "_target_", "name"}


@dataclass(frozen=True)
class SortingParams:
    """Control parameters of the lattice gas and of the measurement.

    Documented key by key in conf/simulator/sorting.yaml.
    """

    L: int = 128
    Ly: int | None = None
    phi: float = 1e-4
    g: float = 0.1
    k_D: float = 1.0
    hop_rate_per: str = "molecule"
    rule: str = "gn"
    M: int = 50
    extraction: str = "size"
    square: int = 3
    extraction_rate: float | None = None
    domain_min_size: int = 3
    init: str = "empty"
    init_density: float = 0.0
    t_end: float = 2.0e5
    n_samples: int = 1000
    seed: int = 0
    snapshots: int = 40
    snapshot_start: float = 0.5
    track_every: float | None = None
    animation: str = "none"
    animation_frames: int = 60
    output_dir: str | None = None
    progress: bool = True
    checkpoint_every: float = 60.0
    buffer: int = 1 << 16

    # ------------------------------------------------------------------ derived
    @property
    def nx(self) -> int:
        return self.L

    @property
    def ny(self) -> int:
        return self.L if self.Ly is None else self.Ly

    @property
    def k_I(self) -> float:
        return self.phi * self.k_D

    @property
    def k_hop(self) -> float:
        """Total hop rate of a free molecule (four empty neighbours, n = 0), the kernel's k_D."""
        return self.k_D * HOP_RATE_PER[self.hop_rate_per]

    @property
    def phi_molecule(self) -> float:
        """phi in the per-molecule convention: k_I over a free molecule's total hop rate."""
        return self.k_I / self.k_hop

    @property
    def phi_neighbour(self) -> float:
        """phi in the per-neighbour convention (the papers' code): k_I over k_D g**0 per
        empty neighbour; always 4 * phi_molecule."""
        return 4.0 * self.k_I / self.k_hop

    def conventions(self) -> dict[str, Any]:
        """phi in both conventions, and the time unit each one measures time in."""
        return {
            "hop_rate_per": self.hop_rate_per,
            "phi_molecule": self.phi_molecule,
            "phi_neighbour": self.phi_neighbour,
            "time_unit": f"1/k_D (k_D per {self.hop_rate_per})",
            # multiply a time of this run by these to express it in the other units
            "time_to_molecule_units": self.k_hop,
            "time_to_neighbour_units": self.k_hop / 4.0,
        }

    @property
    def M_eff(self) -> int:
        """Extraction size; 'none' disables extraction with an unreachable size."""
        return self.nx * self.ny + 1 if self.extraction == "none" else self.M

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray]:
        par = np.zeros(K.NPAR)
        par[K.P_KI] = self.k_I
        par[K.P_KD] = self.k_hop  # the kernel takes the free molecule's total hop rate
        par[K.P_G] = self.g
        par[K.P_KE] = self.extraction_rate or 0.0
        ipar = np.zeros(K.NIPAR, dtype=np.int64)
        ipar[K.I_RULE] = RULES[self.rule]
        ipar[K.I_CRIT] = CRITERIA[self.extraction]
        ipar[K.I_M] = self.M_eff
        ipar[K.I_SQ] = self.square
        ipar[K.I_MINDOM] = self.domain_min_size
        ipar[K.I_NX] = self.nx
        ipar[K.I_NY] = self.ny
        return par, ipar

    def physics(self) -> dict[str, Any]:
        """The values that determine the simulated trajectory (hashed for resuming)."""
        out = {k: v for k, v in asdict(self).items() if k not in RUN_KEYS}
        # keys at their original values are left out, so earlier runs keep their digests
        if out["hop_rate_per"] == "molecule":
            del out["hop_rate_per"]
        if out["track_every"] is None:
            del out["track_every"]
        return out

    def digest(self) -> str:
        blob = json.dumps(self.physics(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> None:
            raise ConfigError(f"simulator.{key}={getattr(self, key)!r}: {msg}")

        if not 0.0 < self.g <= 1.0:
            bad("g", "expected 0 < g <= 1 (g = exp(-epsilon/kT) for an attractive bond)")
        if self.k_D <= 0 or not np.isfinite(self.k_D):
            bad("k_D", "expected a positive finite hopping rate")
        if self.phi < 0 or not np.isfinite(self.phi):
            bad("phi", "expected phi = k_I/k_D >= 0 (0 switches insertion off)")
        if self.hop_rate_per not in HOP_RATE_PER:
            bad("hop_rate_per", f"expected one of {sorted(HOP_RATE_PER)}")
        if self.rule not in RULES:
            bad("rule", f"expected one of {sorted(RULES)}")
        if self.extraction not in CRITERIA:
            bad("extraction", f"expected one of {sorted(CRITERIA)}")
        if self.L < 4:
            bad("L", "expected L >= 4")
        if self.Ly is not None and self.Ly < 4:
            bad("Ly", "expected Ly >= 4 or null (square lattice)")
        n = self.nx * self.ny
        if self.extraction == "size":
            if self.M < 2:
                bad("M", "expected an extraction size M >= 2")
            if n // 4 < self.M:
                bad(
                    "M",
                    f"the lattice is too small for this extraction size: need M <= L*L/4 = "
                    f"{n // 4}",
                )
        if self.extraction == "square":
            if self.square < 2:
                bad("square", "expected the side m of the extraction square >= 2")
            if 2 * self.square > min(self.nx, self.ny):
                bad("square", f"the lattice is too small: need 2*m <= {min(self.nx, self.ny)}")
        if self.extraction_rate is not None and (
            self.extraction_rate < 0 or not np.isfinite(self.extraction_rate)
        ):
            bad("extraction_rate", "expected null (instant extraction) or a rate >= 0")
        if self.domain_min_size < 1:
            bad("domain_min_size", "expected >= 1")
        if self.extraction == "size" and self.domain_min_size > self.M:
            bad("domain_min_size", f"must not exceed the extraction size M={self.M}")
        if self.init not in INITS:
            bad("init", f"expected one of {INITS}")
        if not 0.0 <= self.init_density <= 1.0:
            bad("init_density", "expected a density in [0, 1]")
        if self.t_end <= 0 or not np.isfinite(self.t_end):
            bad("t_end", "expected a positive duration (units of 1/k_D)")
        if self.n_samples < 10:
            bad("n_samples", "expected at least 10 samples")
        if self.snapshots < 0:
            bad("snapshots", "expected >= 0")
        if self.track_every is not None and not (
            np.isfinite(self.track_every) and self.track_every > 0
        ):
            bad("track_every", "expected null (no tracks) or a positive frame interval")
        if not 0.0 <= self.snapshot_start < 1.0:
            bad("snapshot_start", "expected a fraction of t_end in [0, 1)")
        if self.animation not in ANIMATIONS:
            bad("animation", f"expected one of {ANIMATIONS}")
        if self.animation != "none" and self.snapshots < 2:
            bad("animation", "an animation needs simulator.snapshots >= 2")
        if self.animation == "mp4":
            from glassml.sorting.plots import ffmpeg_exe

            try:
                ffmpeg_exe()
            except RuntimeError as err:
                bad("animation", str(err))
        if self.buffer < 1024:
            bad("buffer", "expected >= 1024")

    @classmethod
    def from_mapping(cls, cfg: Any) -> SortingParams:
        """Build from a (Dict)Config; unknown keys are an error, not silently ignored."""
        data = dict(cfg)
        known = {f.name for f in fields(cls)}
        extra = sorted(k for k in data if k not in known and k not in ("_target_", "name"))
        if extra:
            raise ConfigError(f"simulator: unknown key(s) {extra}; known keys: {sorted(known)}")
        data = {k: v for k, v in data.items() if k in known}
        for key, typ in (
            ("L", int),
            ("M", int),
            ("square", int),
            ("domain_min_size", int),
            ("n_samples", int),
            ("seed", int),
            ("snapshots", int),
            ("animation_frames", int),
            ("buffer", int),
        ):
            if key in data and data[key] is not None:
                try:
                    data[key] = typ(data[key])
                except (TypeError, ValueError) as err:
                    raise ConfigError(
                        f"simulator.{key}={data[key]!r}: expected an integer"
                    ) from err
        for key in (
            "phi",
            "g",
            "k_D",
            "init_density",
            "t_end",
            "snapshot_start",
            "checkpoint_every",
            "track_every",
        ):
            if key in data and not (key == "track_every" and data[key] is None):
                try:
                    data[key] = float(data[key])
                except (TypeError, ValueError) as err:
                    raise ConfigError(f"simulator.{key}={data[key]!r}: expected a number") from err
        return cls(**data)
