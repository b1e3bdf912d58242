"""Published GlassBench results (GlassBench roadmap, arXiv:2311.14752), in one place.

Everything here is a literature number, shown next to our runs for comparison and
always labelled as published; nothing is computed from it. Test set, species A.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Source of every number below.
SOURCE = "GlassBench roadmap, arXiv:2311.14752"

#: GlassBench KA 3D time grid at T = 0.44 (LJ units); index 6 is tau_alpha = 4120.
KA3D_T044_TIMES: tuple[float, ...] = (
    0.13,
    1.3,
    13.0,
    130.0,
    412.0,
    1300.0,
    4120.0,
    1.3e4,
    4.12e4,
    1.3e5,
)
KA3D_T044_TAU_ALPHA = 4120.0
KA3D_TAU_ALPHA: dict[float, float] = {0.44: 4120.0, 0.50: 217.0, 0.56: 52.0, 0.64: 16.5}


@dataclass(frozen=True)
class PublishedCurve:
    """Pearson per time of one model on GlassBench KA 3D, T = 0.44, species A."""

    model: str
    values: tuple[float, ...]
    kind: str = "per_config"  # "per_config" (mean over test configurations) or "pooled"
    times: tuple[float, ...] = KA3D_T044_TIMES
    tau_alpha: float = KA3D_T044_TAU_ALPHA
    dataset: str = "glassbench_ka3d_T0.44"


#: Per-time Pearson (predictions stored in the GlassBench test files).
CURVES: tuple[PublishedCurve, ...] = (
    PublishedCurve(
        "SE(3) GNN", (0.896, 0.672, 0.681, 0.708, 0.749, 0.785, 0.791, 0.731, 0.558, 0.260)
    ),
    PublishedCurve(
        "SE(3) GNN",
        (0.896, 0.672, 0.681, 0.713, 0.758, 0.798, 0.815, 0.789, 0.708, 0.626),
        kind="pooled",
    ),
    PublishedCurve("BOTAN", (0.949, 0.739, 0.734, 0.697, 0.734, 0.748, 0.752, 0.691, 0.514, 0.255)),
    PublishedCurve("CAGE", (0.684, 0.847, 0.901, 0.826, 0.802, 0.801, 0.782, 0.706, 0.533, 0.234)),
    PublishedCurve(
        "GlassMLP", (0.392, 0.796, 0.768, 0.725, 0.737, 0.761, 0.756, 0.677, 0.469, 0.048)
    ),
    PublishedCurve(
        "EIGNN-Cage", (0.878, 0.872, 0.915, 0.858, 0.839, 0.834, 0.817, 0.753, 0.589, 0.306)
    ),
    PublishedCurve(
        "potential energy alone",
        (0.018, 0.080, 0.135, 0.234, 0.314, 0.409, 0.507, 0.589, 0.559, 0.392),
        kind="pooled",
    ),
)


@dataclass(frozen=True)
class PublishedHeadline:
    """Headline Pearson at tau_alpha, species A, per dataset (roadmap summary table)."""

    model: str
    pearson_tau: dict[str, float]
    n_params: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


#: Headline Pearson at t = tau_alpha; keys are glassml dataset names.
HEADLINES: tuple[PublishedHeadline, ...] = (
    PublishedHeadline("GlassMLP", {"glassbench_ka3d_T0.44": 0.768}),
    PublishedHeadline(
        "BOTAN", {"glassbench_ka3d_T0.44": 0.755, "glassbench_ka2d_T0.30": 0.723}, "~50k"
    ),
    PublishedHeadline("CAGE", {"glassbench_ka3d_T0.44": 0.779}),
    PublishedHeadline(
        "SE(3) GNN",
        {
            "glassbench_ka3d_T0.44": 0.815,
            "glassbench_ka3d_T0.50": 0.771,
            "glassbench_ka3d_T0.56": 0.715,
            "glassbench_ka3d_T0.64": 0.672,
            "glassbench_ka2d_T0.30": 0.716,
        },
        "~50k",
        {"glassbench_ka3d_T0.44": "transfer from T=0.64: 0.715"},
    ),
    PublishedHeadline("EIGNN-Cage", {"glassbench_ka3d_T0.44": 0.818}, "~47k"),
)

#: chi4 at t = 1300, KA 3D T = 0.44: truth and from model predictions.
CHI4_T1300: dict[str, float] = {"truth": 43.3, "SE(3) GNN": 48.5, "GlassMLP": 30.1}

#: Iso-configurational ceiling reported for 32 runs: short times to long times.
CEILING_32_RUNS: tuple[float, float] = (0.98, 0.91)
