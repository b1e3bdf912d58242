"""PNG plots of the GlassBench metrics: Pearson vs time (with CIs, ceiling and published
curves), chi4(t), spatial correlation, transfer heatmap and per-model comparison."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from glassml.evaluation.published import CURVES
from glassml.evaluation.report import save_figure


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _arr(values: Sequence[float | None] | None) -> np.ndarray:
    if values is None:
        return np.array([])
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def time_axis(report: Mapping[str, Any]) -> tuple[np.ndarray, str, bool]:
    """x values, label and whether a log axis applies: t / t(tau_alpha) when times are known."""
    times = report.get("times")
    if times is None:
        return np.asarray(report["time_indices"], dtype=float), "time index", False
    t = np.asarray(times, dtype=float)
    tau_idx = report["time_indices"].index(report["tau_alpha_time_index"])
    return t / t[tau_idx], r"$t / \tau_\alpha$", True


def plot_pearson_overview(
    report: Mapping[str, Any],
    path: str | os.PathLike[str],
    species: str = "A",
    published: bool = True,
) -> None:
    """Pearson vs time for one species: model with bootstrap CI band, local-density
    baseline, iso-configurational ceiling and the published GlassBench curves
    (KA 3D, T = 0.44, in units of its tau_alpha), pooled and per configuration."""
    plt = _plt()
    x, xlabel, logx = time_axis(report)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    pear = report["pearson"]
    ci = report.get("pearson_ci", {}).get(species, {})
    ceil = report.get("ceiling", {}).get(species, {}).get("ceiling", {})
    for ax, kind in zip(axes, ("pooled", "per_config"), strict=True):
        y = _arr(pear["model"].get(species, {}).get(kind))
        if y.size:
            ax.plot(x, y, "o-", color="C0", label="model")
            for xv, yv, f in zip(x, y, report.get("is_values") or [], strict=False):
                ax.annotate(
                    f"{f:.2g}", (xv, yv), fontsize=6, xytext=(2, 4), textcoords="offset points"
                )
        if kind in ci:
            ax.fill_between(
                x,
                _arr(ci[kind]["low"]),
                _arr(ci[kind]["high"]),
                color="C0",
                alpha=0.25,
                label="95% bootstrap CI" if kind == "pooled" else None,
            )
        base = pear.get("baseline_local_density", {}).get(species, {}).get(kind)
        if base:
            ax.plot(x, _arr(base), "s--", color="C1", alpha=0.7, label="local density")
        if kind in ceil:
            ax.plot(x, _arr(ceil[kind]), "k:", lw=2, label="iso-configurational ceiling")
        stored = report.get("published_from_files", {}) if published else {}
        for j, (key, per_species) in enumerate(sorted(stored.items())):
            ys = _arr(per_species.get(species, {}).get(kind))
            if ys.size:
                label = f"{key} (stored in the test files)"
                ax.plot(x, ys, "^:", color=f"C{6 + j % 4}", lw=1, ms=3, label=label)
        if published and logx and species == "A":
            names = sorted({c.model for c in CURVES})
            for c in (cv for cv in CURVES if cv.kind == kind):
                xp = np.asarray(c.times) / c.tau_alpha
                color = f"C{2 + names.index(c.model) % 8}"
                ax.plot(
                    xp, c.values, "--", color=color, lw=1, alpha=0.7, label=f"{c.model} (published)"
                )
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel + (" (labels: ISF level F_s)" if report.get("is_values") else ""))
        ax.set_title(
            f"species {species}, " + ("pooled" if kind == "pooled" else "mean per configuration")
        )
        ax.axhline(0.0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Pearson correlation")
    for ax in axes:
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    if published and logx and species == "A":
        fig.suptitle(
            "dashed: published, GlassBench KA 3D T = 0.44 (arXiv:2311.14752), "
            r"in units of its $\tau_\alpha$",
            fontsize=8,
        )
    save_figure(fig, path)
    plt.close(fig)


def plot_chi4(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """chi4(t) from true and predicted propensities per species, and their ratio."""
    plt = _plt()
    x, xlabel, logx = time_axis(report)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, (sp, c) in enumerate(report.get("chi4", {}).items()):
        axes[0].plot(x, _arr(c["true"]), "o-", color=f"C{i}", label=f"true {sp}")
        axes[0].plot(x, _arr(c["pred"]), "s--", color=f"C{i}", label=f"predicted {sp}")
        axes[1].plot(x, _arr(c["ratio"]), "o-", color=f"C{i}", label=sp)
    axes[0].set_ylabel(r"$\chi_4$")
    axes[1].set_ylabel(r"$\chi_4^{pred} / \chi_4^{true}$")
    axes[1].axhline(1.0, color="k", lw=0.5)
    for ax in axes:
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def _xi(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def plot_spatial(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Spatial correlation C(r) of true and predicted propensity, per species."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, (sp, s) in enumerate(report.get("spatial", {}).items()):
        r = _arr(s["r"])
        ax.plot(
            r, _arr(s["true"]), "-", color=f"C{i}", label=f"true {sp} (xi = {_xi(s['xi_true'])})"
        )
        ax.plot(
            r,
            _arr(s["pred"]),
            "--",
            color=f"C{i}",
            label=f"predicted {sp} (xi = {_xi(s['xi_pred'])})",
        )
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("r")
    ax.set_ylabel("C(r)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    plt.close(fig)


def plot_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
) -> None:
    """Annotated heatmap (transfer matrix: trained on rows, tested on columns)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.4 * len(cols) + 2.5, 0.8 * len(rows) + 2))
    im = ax.imshow(matrix, cmap="viridis", vmin=np.nanmin(matrix), vmax=np.nanmax(matrix))
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.3f}", ha="center", va="center", color="w")
    ax.set_xlabel("tested on")
    ax.set_ylabel("trained on")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    save_figure(fig, path)
    plt.close(fig)


def plot_model_curves(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    path: str | os.PathLike[str],
    xlabel: str,
    logx: bool,
    title: str = "",
    ceiling: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Pearson vs time, one line per (label, x, y) curve (leaderboard comparison), and
    the iso-configurational ceiling (x, y) dotted."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, x, y) in enumerate(curves):
        ax.plot(x, y, "o-", color=f"C{i % 10}", label=label)
    if ceiling is not None:
        ax.plot(*ceiling, "k:", lw=2, label="iso-configurational ceiling")
    if logx:
        ax.set_xscale("log")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Pearson correlation")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, path)
    plt.close(fig)
