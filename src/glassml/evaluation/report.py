"""Pearson tables (terminal and JSON) and the evaluation plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassml.data.datamodule import DataInfo
from glassml.io import atomic_path, atomic_write_text

Scores = dict[tuple[str, int], np.ndarray]  # ("pooled" | "per_config", species) -> [T]


def scores_from_logged(logged: Mapping[str, Any], info: DataInfo, stage: str = "test") -> Scores:
    """Rebuild the per-time score arrays from the names `PropensityModule` logs."""
    out: Scores = {}
    for s, name in enumerate(info.species_names):
        for kind, prefix in (("pooled", "pearson"), ("per_config", "pearson_cfg")):
            vals = []
            for k in range(info.num_targets):
                v = logged.get(f"{stage}/{prefix}_{name}_{info.time_label(k)}")
                vals.append(float(v) if v is not None else math.nan)
            if not all(math.isnan(v) for v in vals):
                out[(kind, s)] = np.asarray(vals)
    return out


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(float(v)) else round(float(v), 6) for v in values]


def report_dict(
    info: DataInfo,
    model: Scores,
    baseline: Scores | None,
    n_configs: int,
    split: str = "test",
    extra: Mapping[str, Any] | None = None,
    species: Sequence[int] | None = None,
) -> dict[str, Any]:
    """JSON-ready summary: Pearson per time and species, model and baseline.

    `species`: the species scored and listed as trained (default `info.train_species`).
    """
    species = list(info.train_species) if species is None else list(species)

    def block(scores: Scores) -> dict[str, dict[str, list[float | None]]]:
        out: dict[str, dict[str, list[float | None]]] = {}
        for (kind, s), r in sorted(scores.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            out.setdefault(info.species_names[s], {})[kind] = _clean(r)
        return out

    rep: dict[str, Any] = {
        "split": split,
        "n_configs": n_configs,
        "target": info.target,
        "positions": info.positions,
        "time_indices": info.time_indices,
        "times": info.times,
        "tau_alpha_time_index": info.time_indices[info.tau_position],
        "train_species": [info.species_names[s] for s in species],
        "pearson": {"model": block(model)},
    }
    if getattr(info, "is_values", None) is not None:  # Bapst rows: ISF level of each time
        rep["is_values"] = info.is_values
    if baseline is not None:
        rep["pearson"]["baseline_local_density"] = block(baseline)
    if extra:
        rep.update(extra)
    return rep


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def format_table(report: Mapping[str, Any], species: Sequence[str] | None = None) -> str:
    """Plain-text table: one row per time scale, model next to the baseline."""
    pear = report["pearson"]
    model = pear["model"]
    base = pear.get("baseline_local_density", {})
    species = list(species) if species is not None else list(report["train_species"])
    times = report["times"]
    idx = report["time_indices"]
    tau = report["tau_alpha_time_index"]
    isf = report.get("is_values")

    def f(v: float | None) -> str:
        return "   -  " if v is None else f"{v:6.3f}"

    lines = [
        f"{report['split'].capitalize()} Pearson correlation ({report['target']}, "
        f"{report['n_configs']} configurations;"
        " pooled = all particles together, per-cfg = mean over configurations)"
    ]
    for sp in species:
        if sp not in model:
            continue
        lines.append(f"species {sp}")
        lines.append(
            f"  {'idx':>3} {'time':>10} | {'model':>6} {'base':>6} | {'model':>6} {'base':>6}"
        )
        lines.append(f"  {'':>3} {'':>10} | {'pooled':^13} | {'per-cfg':^13}")
        for k, t_idx in enumerate(idx):
            t = "" if times is None else f"{times[k]:.4g}"
            mark = " <- tau_alpha" if t_idx == tau else ""
            if isf is not None:
                mark = f" F_s = {isf[k]:.3g}{mark}"
            mp = model[sp].get("pooled", [None] * len(idx))[k]
            mc = model[sp].get("per_config", [None] * len(idx))[k]
            bp = base.get(sp, {}).get("pooled", [None] * len(idx))[k]
            bc = base.get(sp, {}).get("per_config", [None] * len(idx))[k]
            lines.append(f"  {t_idx:>3} {t:>10} | {f(mp)} {f(bp)} | {f(mc)} {f(bc)}{mark}")
    lines.append("base = local density within r < 1.5, sign fitted on the training split")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def plot_pearson_vs_time(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Pearson versus time (or time index) per species, model solid, baseline dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = report["times"]
    x = np.asarray(times if times is not None else report["time_indices"], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    pear = report["pearson"]
    for ax, kind in zip(axes, ("pooled", "per_config"), strict=True):
        for i, (sp, vals) in enumerate(pear["model"].items()):
            color = f"C{i}"
            y = np.array([np.nan if v is None else v for v in vals.get(kind, [])], dtype=float)
            if y.size:
                ax.plot(x, y, "o-", color=color, label=f"model {sp}")
            base = pear.get("baseline_local_density", {}).get(sp, {}).get(kind)
            if base:
                yb = np.array([np.nan if v is None else v for v in base], dtype=float)
                ax.plot(x, yb, "s--", color=color, alpha=0.6, label=f"local density {sp}")
        if times is not None:
            ax.set_xscale("log")
        ax.set_xlabel("time" if times is not None else "time index")
        ax.set_title("pooled" if kind == "pooled" else "mean per configuration")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Pearson correlation")
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, path)
    plt.close(fig)


def plot_configuration(
    positions: np.ndarray,
    box: np.ndarray,
    species: np.ndarray,
    truth: np.ndarray,
    prediction: np.ndarray,
    path: str | os.PathLike[str],
    title: str = "",
    slab: float = 2.0,
    species_names: Sequence[str] | None = None,
) -> None:
    """Predicted vs true propensity of one configuration: scatter and spatial maps.

    3D configurations are shown as a slab of thickness `slab` around the middle of the
    box along z; 2D configurations are shown whole.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    ax = axes[0]
    for s in np.unique(species):
        m = species == s
        name = species_names[int(s)] if species_names is not None else str(s)
        ax.scatter(truth[m], prediction[m], s=4, alpha=0.5, label=f"species {name}")
    lo = float(min(truth.min(), prediction.min()))
    hi = float(max(truth.max(), prediction.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("true propensity")
    ax.set_ylabel("predicted propensity")
    ax.legend(fontsize=8)
    ax.set_title(title)
    if positions.shape[1] == 3:
        zc = box[2] / 2
        sel = np.abs(positions[:, 2] - zc) < slab / 2
        where = f"slab |z - {zc:.2f}| < {slab / 2:g}"
    else:
        sel = np.ones(len(positions), dtype=bool)
        where = "whole box"
    for ax, values, name in ((axes[1], truth, "true"), (axes[2], prediction, "predicted")):
        # own colour scale per panel: predictions are compressed towards the mean
        vmin, vmax = np.percentile(values, [2, 98])
        sc = ax.scatter(
            positions[sel, 0],
            positions[sel, 1],
            c=values[sel],
            s=18,
            cmap="coolwarm",
            vmin=vmin,
            vmax=vmax,
        )
        ax.set_aspect("equal")
        ax.set_xlim(0, box[0])
        ax.set_ylim(0, box[1])
        ax.set_title(f"{name} ({where})")
        fig.colorbar(sc, ax=ax, shrink=0.8)
    save_figure(fig, path)
    plt.close(fig)


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
