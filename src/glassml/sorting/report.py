"""glassml-sorting-report: aggregate a sweep of sorting runs into the efficiency map.

Reads every ``summary.json`` under a directory (a Hydra multirun, or any tree of
run directories), averages the seeds of each (phi, g), and writes
``sorting_report.json``, a Markdown table and PNG plots: residence time, number of
domains and critical size against phi and against g (log axes), the (phi, g) map,
and the papers' claim tested per phi (glassml.sorting.criterion): where the number of
domains of at least k molecules is lowest against the basin of lowest density.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from glassml.io import atomic_write_text  # noqa: E402
from glassml.sorting.analysis import block_error  # noqa: E402
from glassml.sorting.criterion import Criterion, Curves, counts_at_least, criterion  # noqa: E402
from glassml.sorting.plots import save_fig  # noqa: E402


def load_runs(root: Path) -> list[dict[str, Any]]:
    runs = []
    for path in sorted(Path(root).rglob("summary.json")):
        s = json.loads(path.read_text())
        if "params" not in s or "stationary" not in s:
            continue
        s["_dir"] = str(path.parent)
        runs.append(s)
    return runs


CLAIM_KS = tuple(range(2, 21))  # size thresholds of the claim's test (2: the group's own code)


def _domain_counts(run_dir: Path, start: int, n_sites: int, n_c: float) -> dict[str, Any]:
    """Stationary domains per site of at least k molecules (size histograms), for the claim's
    k and for the run's own critical size (supercritical domains)."""
    out: dict[str, Any] = {}
    path = Path(run_dir) / "timeseries.npz"
    if not path.exists():
        return out
    with np.load(path) as z:
        hist = z["size_hist"][start:]
    thr = max(1, int(np.ceil(n_c))) if np.isfinite(n_c) else hist.shape[1]
    if thr < hist.shape[1]:
        x = hist[:, thr:].sum(axis=1) / n_sites
        out["domains_supercritical"] = float(x.mean())
        out["domains_supercritical_err"] = block_error(x)
    ks = [k for k in CLAIM_KS if k < hist.shape[1]]
    out["counts_ge"] = dict(zip(ks, counts_at_least(hist, np.array(ks), n_sites), strict=True))
    return out


def seed_average(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (phi, g): means over seeds; errors from the seed-to-seed scatter when
    there are several seeds (else the run's own blocking error)."""
    groups: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["phi"], r["g"]), []).append(r)
    out = []
    for rs in groups.values():
        avg: dict[str, Any] = {"seeds": len(rs)}
        for key, val in rs[0].items():
            if not isinstance(val, (int, float, np.number)) or isinstance(val, bool):
                continue
            if any(key not in r for r in rs):
                continue
            x = np.array([r[key] for r in rs], dtype=float)
            if key.endswith("_err") and key[:-4] in rs[0]:
                if len(rs) >= 2:
                    y = np.array([r[key[:-4]] for r in rs], dtype=float)
                    avg[key] = float(y.std(ddof=1) / np.sqrt(len(y)))
                else:
                    avg[key] = float(x[0])
            else:
                avg[key] = float(np.mean(x))
        out.append(avg)
    return out


def _critical(comm: dict[str, Any]) -> float:
    """The run's critical size: the logistic fit, else the empirical 1/2 crossing (the fit
    fails when the committor is above 1/2 already at the smallest domain size)."""
    n_c = comm["n_c"]
    return n_c if np.isfinite(n_c) else comm["n_half_empirical"]


def conventions(s: dict[str, Any]) -> dict[str, Any]:
    """phi in both rate conventions and the time factors (summaries older than the
    ``hop_rate_per`` key were all run per molecule)."""
    if "conventions" in s:
        return s["conventions"]
    kd, phi = s["params"].get("k_D", 1.0), s["params"]["phi"]
    return {
        "hop_rate_per": "molecule",
        "phi_molecule": phi,
        "phi_neighbour": 4 * phi,
        "time_to_molecule_units": kd,
        "time_to_neighbour_units": kd / 4,
    }


def _row(s: dict[str, Any]) -> dict[str, float]:
    st, so = s["stationary"], s["sorting"]
    tau = so.get("residence_time_little", {"mean": np.nan, "err": np.nan})
    tag = so.get("residence_time_tagged", {"mean": np.nan, "err": np.nan})
    conv = conventions(s)
    return {
        # runs are grouped by phi in the per-molecule convention, whichever they were run in
        "phi": conv["phi_molecule"],
        "phi_neighbour": conv["phi_neighbour"],
        "t_end_over_tau": s["params"]["t_end"] / tau["mean"] if tau["mean"] > 0 else np.nan,
        "seed": s["params"].get("seed", 0),
        "g": s["params"]["g"],
        "M": s["params"]["M"],
        "L": s["params"]["L"],
        # times in units of 1/k_D per molecule (x4 for the per-neighbour units)
        "tau": tau["mean"] * conv["time_to_molecule_units"],
        "tau_err": tau["err"] * conv["time_to_molecule_units"],
        "tau_tag": tag["mean"] * conv["time_to_molecule_units"],
        "tau_tag_err": tag["err"] * conv["time_to_molecule_units"],
        "domains": st["domain_density"]["mean"],
        "domains_err": st["domain_density"]["err"],
        "density": st["density"]["mean"],
        "density_err": st["density"]["err"],
        "flux_out": so.get("flux_out", np.nan),
        "n_c": s["committor"]["n_c"],
        "n_half": s["committor"]["n_half_empirical"],
        "n_c_cnt_disc": s.get("cnt", {}).get("n_c_disc", np.nan),
        "n_c_cnt_square": s.get("cnt", {}).get("n_c_square", np.nan),
        "warnings": len(s.get("warnings", [])),
        **_domain_counts(
            s["_dir"],
            st["density"]["start_index"],
            s["params"]["L"] * (s["params"]["Ly"] or s["params"]["L"]),
            _critical(s["committor"]),
        ),
    }


def claim(rows: list[dict[str, Any]], n_boot: int = 1000) -> dict[float, Criterion]:
    """The papers' claim at each phi with at least 3 values of g: g_min(k) for k = 2..20
    and for the runs' own critical size (domains of >= ceil(n_c) molecules)."""
    out: dict[float, Criterion] = {}
    for phi in sorted({r["phi"] for r in rows}):
        rs = [r for r in rows if r["phi"] == phi and "counts_ge" in r]
        gs = sorted({r["g"] for r in rs})
        if len(gs) < 3:
            continue
        ks = [k for k in CLAIM_KS if all(k in r["counts_ge"] for r in rs)]
        with_nc = all("domains_supercritical" in r for r in rs)
        labels = ks + (["n_c"] if with_nc else [])
        rho, cnt = [], []
        for g in gs:
            at = [r for r in rs if r["g"] == g]
            rho.append(np.array([r["density"] for r in at]))
            c = [[r["counts_ge"][k] for k in ks] for r in at]
            if with_nc:
                c = [row + [r["domains_supercritical"]] for row, r in zip(c, at, strict=True)]
            cnt.append(np.array(c))
        res = criterion(Curves(np.array(gs), rho, cnt, labels), n_boot=n_boot)
        tau = {g: np.mean([r["tau"] for r in rs if r["g"] == g]) for g in gs}
        res.extra = {
            "phi_molecule": phi,
            "phi_neighbour": 4 * phi,
            "seeds_per_g": {str(g): sum(r["g"] == g for r in rs) for g in gs},
            "residence_time": [float(tau[g]) for g in gs],
            "t_end_over_tau_min": float(min(r["t_end_over_tau"] for r in rs)),
        }
        out[phi] = res
    return out


def _claim_plot(res: dict[float, Criterion], path: Path) -> None:
    """Per phi: g_min(k) against k with the basin as a band; rho(g) and N>=k(g) below."""
    n = len(res)
    fig, axs = plt.subplots(2, n, figsize=(5 * n, 8), squeeze=False)
    for j, (phi, c) in enumerate(res.items()):
        ax = axs[0, j]
        ks = [k for k in c.ks if not isinstance(k, str)]
        idx = [c.ks.index(k) for k in ks]
        gm = c.g_min[idx]
        err = np.abs(c.g_min_interval[idx] - gm[:, None]).T
        ax.axhspan(*c.basin, color="tab:green", alpha=0.2, label="basin rho <= 1.05 rho_min")
        ax.axhline(c.g_opt, color="tab:green", lw=1, label=f"lowest density, g = {c.g_opt:g}")
        ax.errorbar(ks, gm, yerr=err, fmt="o", ms=4, color="k", label="g_min(k), 16-84%")
        if "n_c" in c.ks:
            i = c.ks.index("n_c")
            ax.axhline(c.g_min[i], color="tab:red", ls="--", lw=1, label="g_min(n_c)")
        ax.set_xlabel("k (domains = clusters of >= k molecules)")
        ax.set_ylabel("g_min(k)")
        ax.set_ylim(0, c.g[-1] * 1.05)
        ax.set_title(f"phi = {phi:g} per molecule = {4 * phi:g} per neighbour", fontsize=9)
        ax.legend(fontsize=7)
        ax = axs[1, j]
        ax.errorbar(
            c.g,
            c.rho / c.rho_min,
            yerr=c.rho_err / c.rho_min,
            fmt="k-o",
            ms=3,
            label="rho / rho_min",
        )
        ax.axvspan(*c.basin, color="tab:green", alpha=0.2)
        for k in (2, 3, 5, 10, 20):
            y = c.counts[:, c.ks.index(k)] if k in c.ks else np.zeros(1)
            if y.min() > 0:  # none of that size at some g: no ratio to the minimum
                ax.plot(c.g, y / y.min(), "-", lw=1, label=f"N>={k} / min")
        ax.set_yscale("log")
        ax.set_xlabel("g")
        ax.legend(fontsize=7)
    save_fig(fig, path)


def _claim_lines(res: dict[float, Criterion]) -> list[str]:
    lines = []
    for phi, c in res.items():
        lo, hi = c.basin
        lines += [
            "",
            f"### phi = {phi:g} (per molecule) = {4 * phi:g} (per neighbour)",
            "",
            f"Lowest density rho_min = {c.rho_min:.5g} at g = {c.g_opt:g} "
            f"[{c.g_opt_interval[0]:g}, {c.g_opt_interval[1]:g}]; basin rho <= "
            f"{1 + c.tol:g} rho_min: g in [{lo:.3g}, {hi:.3g}]"
            + (" (reaches the grid's end)" if c.basin_open else "")
            + f"; seeds per g: {min(c.extra['seeds_per_g'].values())}"
            f"-{max(c.extra['seeds_per_g'].values())}; shortest run = "
            f"{c.extra['t_end_over_tau_min']:.1f} residence times.",
            "",
            "| k | g_min(k) [16%, 84%] | rho(g_min)/rho_min - 1 | in basin (bootstrap P) |",
            "|---|---|---|---|",
        ]
        for j, k in enumerate(c.ks):
            edge = " (grid edge)" if c.g_min_at_edge[j] else ""
            lines.append(
                f"| {k} | {c.g_min[j]:g} [{c.g_min_interval[j, 0]:g}, "
                f"{c.g_min_interval[j, 1]:g}]{edge} | {c.loss[j]:.4f} ± {c.loss_err[j]:.4f} | "
                f"{'yes' if c.inside[j] else 'no'} ({c.p_inside[j]:.2f}) |"
            )
    return lines


def report(root: Path, out: Path | None = None) -> dict[str, Any]:
    """Aggregate the runs under ``root``; writes the report files next to them."""
    root = Path(root)
    out = Path(out) if out else root
    runs = load_runs(root)
    if not runs:
        raise SystemExit(f"no summary.json of a sorting run under {root}")
    raw = [_row(s) for s in runs]
    rows = seed_average(raw)
    gs = sorted({r["g"] for r in rows})
    phis = sorted({r["phi"] for r in rows})
    claims = claim(raw)
    result: dict[str, Any] = {
        "root": str(root),
        "n_runs": len(raw),
        "phi_convention": "per molecule (k_D/4 g^n per empty neighbour); x4 per neighbour",
        "claim": {f"{phi:g}": c.as_dict() for phi, c in claims.items()},
    }
    if claims:
        _claim_plot(claims, out / "sorting_claim.png")
    for along, fixed, name in (
        ("phi", "g", "sorting_efficiency.png"),
        ("g", "phi", "sorting_vs_g.png"),
    ):
        groups = sorted({r[fixed] for r in rows})
        if not any(sum(r[fixed] == v for r in rows) >= 2 for v in groups):
            continue
        fig, axs = plt.subplots(1, 3, figsize=(15, 4.2))
        for v in groups:
            rs = sorted((r for r in rows if r[fixed] == v), key=lambda r: r[along])
            if len(rs) < 2:
                continue
            x = np.array([r[along] for r in rs])
            lab = f"{fixed}={v:g}"
            axs[0].errorbar(
                x,
                [r["tau"] for r in rs],
                yerr=[r["tau_err"] for r in rs],
                fmt="o-",
                ms=4,
                label=lab,
            )
            axs[1].errorbar(
                x,
                [r["domains"] for r in rs],
                yerr=[r["domains_err"] for r in rs],
                fmt="o-",
                ms=4,
                label=lab,
            )
            axs[2].plot(x, [r["n_c"] for r in rs], "o-", ms=4, label=f"{lab}: committor")
            cnt = np.array([r["n_c_cnt_disc"] for r in rs])
            if np.isfinite(cnt).any():
                axs[2].plot(x, cnt, "x--", ms=5, label=f"{lab}: CNT (disc)")
        axs[0].set_ylabel("mean residence time  [1/k_D]")
        axs[1].set_ylabel("domains per site")
        axs[2].set_ylabel("critical size n_c")
        for ax in axs:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("phi = k_I / k_D" if along == "phi" else "g")
            ax.legend(fontsize=7)
        save_fig(fig, out / name)

    if len(gs) >= 2 and len(phis) >= 2:
        fig, axs = plt.subplots(1, 2, figsize=(12, 4.2))
        for ax, key, lab in (
            (axs[0], "tau", "log10 residence time"),
            (axs[1], "domains", "log10 domains per site"),
        ):
            grid = np.full((len(gs), len(phis)), np.nan)
            for r in rows:
                grid[gs.index(r["g"]), phis.index(r["phi"])] = r[key]
            im = ax.imshow(np.log10(grid), origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(len(phis)), [f"{p:.0e}" for p in phis], rotation=45)
            ax.set_yticks(range(len(gs)), [f"{g:g}" for g in gs])
            ax.set_xlabel("phi")
            ax.set_ylabel("g")
            fig.colorbar(im, ax=ax, label=lab)
        save_fig(fig, out / "sorting_map.png")

    lines = [
        "phi per molecule (hop rate k_D/4 g^n per empty neighbour) and per neighbour (k_D g^n,"
        " the papers' code) describe the same runs; times in 1/k_D per molecule (divide by 4"
        " for the per-neighbour units). Means over seeds; errors from the seed-to-seed"
        " scatter when there are several.",
        "",
        "| g | phi (molecule) | phi (neighbour) | seeds | density | residence (Little) "
        "| residence (tags) | t_end / residence | domains/site | n_c committor "
        "| n_c CNT disc/square | warnings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["g"], r["phi"])):
        lines.append(
            f"| {r['g']:g} | {r['phi']:.3g} | {r['phi_neighbour']:.3g} | {r['seeds']} | "
            f"{r['density']:.5g} ± {r['density_err']:.2g} | "
            f"{r['tau']:.4g} ± {r['tau_err']:.2g} | "
            f"{r['tau_tag']:.4g} ± {r['tau_tag_err']:.2g} | {r['t_end_over_tau']:.1f} | "
            f"{r['domains']:.4g} ± {r['domains_err']:.2g} | {r['n_c']:.3g} | "
            f"{r['n_c_cnt_disc']:.3g} / {r['n_c_cnt_square']:.3g} | {r['warnings']:g} |"
        )
    if claims:
        lines += ["", "## The claim: minimum of the number of domains vs lowest density"]
        lines += _claim_lines(claims)
        lines.append("")
    atomic_write_text(out / "sorting_report.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "sorting_report.json", json.dumps(result, indent=2, default=float))
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "root", type=Path, help="sweep directory (searched recursively for summary.json)"
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default: root)"
    )
    args = ap.parse_args(argv)
    res = report(args.root, args.out)
    print((Path(args.out or args.root) / "sorting_report.md").read_text())
    print(f"{res['n_runs']} runs aggregated")


if __name__ == "__main__":
    main()
