"""glassml-sorting-report: aggregate a sweep of sorting runs into the efficiency map.

Reads every ``summary.json`` under a directory (a Hydra multirun, or any tree of
run directories), groups runs by g, and writes ``sorting_report.json``, a
Markdown table and PNG plots: residence time and number of domains against phi
(log axes), the critical size against phi, and the (phi, g) map. The optimum
phi of each quantity comes from a parabola in log-log around the grid minimum,
with a bootstrap over the runs' error bars, so "does the minimum of the number
of domains coincide with the efficiency optimum" is answered with an error.
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


THRESHOLDS = (5, 10, 20)


def _domain_counts(run_dir: Path, start: int, n_sites: int, n_c: float) -> dict[str, float]:
    """Stationary domains per site counted from several minimum sizes (size histograms),
    including the run's own critical size (supercritical domains)."""
    out: dict[str, float] = {}
    path = Path(run_dir) / "timeseries.npz"
    if not path.exists():
        return out
    with np.load(path) as z:
        hist = z["size_hist"][start:]
    thresholds = {f"domains_ge{t}": t for t in THRESHOLDS}
    if np.isfinite(n_c):
        thresholds["domains_supercritical"] = max(1, int(np.ceil(n_c)))
    for key, thr in thresholds.items():
        if thr >= hist.shape[1]:
            continue
        x = hist[:, thr:].sum(axis=1) / n_sites
        out[key] = float(x.mean())
        out[f"{key}_err"] = block_error(x)
    return out


def _row(s: dict[str, Any]) -> dict[str, float]:
    st, so = s["stationary"], s["sorting"]
    tau = so.get("residence_time_little", {"mean": np.nan, "err": np.nan})
    tag = so.get("residence_time_tagged", {"mean": np.nan, "err": np.nan})
    return {
        "phi": s["params"]["phi"],
        "g": s["params"]["g"],
        "M": s["params"]["M"],
        "L": s["params"]["L"],
        "tau": tau["mean"],
        "tau_err": tau["err"],
        "tau_tag": tag["mean"],
        "tau_tag_err": tag["err"],
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
            s["committor"]["n_c"],
        ),
    }


def log_minimum(x: np.ndarray, y: np.ndarray, dy: np.ndarray, n_boot: int = 400, seed: int = 0):
    """Location of the minimum of y(x) on log axes: parabola through the grid minimum and
    its neighbours, bootstrapped over the error bars. Returns (x_min, lo, hi, at_edge)."""
    lx, ly = np.log10(x), np.log10(y)
    dly = dy / (y * np.log(10))
    k = int(np.nanargmin(ly))
    edge = k == 0 or k == len(x) - 1
    sl = slice(max(0, k - 2), min(len(x), k + 3))
    if edge or sl.stop - sl.start < 3:
        return float(x[k]), float(x[k]), float(x[k]), True
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        yy = ly[sl] + rng.normal(size=sl.stop - sl.start) * np.nan_to_num(dly[sl])
        a, b, _c = np.polyfit(lx[sl], yy, 2)
        if a > 0:
            out.append(np.clip(-b / (2 * a), lx[sl][0], lx[sl][-1]))
    if not out:
        return float(x[k]), float(x[k]), float(x[k]), False
    q = np.percentile(out, [16, 50, 84])
    return float(10 ** q[1]), float(10 ** q[0]), float(10 ** q[2]), False


def _minima(rows: list[dict[str, Any]], fixed: str, along: str) -> dict[str, Any]:
    """For each value of `fixed`: where residence time and number of domains (counted from
    several minimum sizes) are minimal along `along`, and whether each domain-number
    minimum agrees with the residence-time minimum within their bootstrap intervals."""
    out: dict[str, Any] = {}
    keys = ["domains"] + [f"domains_ge{t}" for t in THRESHOLDS] + ["domains_supercritical"]
    for v in sorted({r[fixed] for r in rows}):
        rs = sorted((r for r in rows if r[fixed] == v), key=lambda r: r[along])
        entry: dict[str, Any] = {"runs": rs}
        if len(rs) >= 3:
            x = np.array([r[along] for r in rs])
            names = (along, "lo", "hi", "at_edge")
            t_opt = log_minimum(
                x, np.array([r["tau"] for r in rs]), np.array([r["tau_err"] for r in rs])
            )
            entry["opt_residence"] = dict(zip(names, t_opt, strict=True))
            for key in keys:
                if not all(key in r for r in rs):
                    continue
                y = np.array([r[key] for r in rs])
                if not (y > 0).all():
                    continue
                d_opt = log_minimum(x, y, np.array([r[f"{key}_err"] for r in rs]))
                name = "min_" + key
                entry[name] = dict(zip(names, d_opt, strict=True))
                overlap = not (t_opt[2] < d_opt[1] or d_opt[2] < t_opt[1])
                entry[f"coincide_{key}"] = bool(overlap and not (t_opt[3] or d_opt[3]))
            if "min_domains" in entry:
                entry["minima_coincide_within_errors"] = entry["coincide_domains"]
        out[str(v)] = entry
    return out


def report(root: Path, out: Path | None = None) -> dict[str, Any]:
    """Aggregate the runs under ``root``; writes the report files next to them."""
    root = Path(root)
    out = Path(out) if out else root
    runs = load_runs(root)
    if not runs:
        raise SystemExit(f"no summary.json of a sorting run under {root}")
    rows = [_row(s) for s in runs]
    gs = sorted({r["g"] for r in rows})
    phis = sorted({r["phi"] for r in rows})
    result: dict[str, Any] = {
        "root": str(root),
        "n_runs": len(rows),
        "by_g": _minima(rows, "g", "phi"),
        "by_phi": _minima(rows, "phi", "g"),
    }
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
            entry = result[f"by_{fixed}"].get(str(v), {})
            for ax, key in ((axs[0], "opt_residence"), (axs[1], "min_domains")):
                if key in entry and not entry[key]["at_edge"]:
                    ax.axvspan(entry[key]["lo"], entry[key]["hi"], alpha=0.15)
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
        "| g | phi | residence (Little) | residence (tags) | domains/site | n_c committor "
        "| n_c CNT disc/square | warnings |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["g"], r["phi"])):
        lines.append(
            f"| {r['g']:g} | {r['phi']:.3g} | {r['tau']:.4g} ± {r['tau_err']:.2g} | "
            f"{r['tau_tag']:.4g} ± {r['tau_tag_err']:.2g} | "
            f"{r['domains']:.4g} ± {r['domains_err']:.2g} | {r['n_c']:.3g} | "
            f"{r['n_c_cnt_disc']:.3g} / {r['n_c_cnt_square']:.3g} | {r['warnings']} |"
        )
    for fixed, along in (("g", "phi"), ("phi", "g")):
        for v, e in result[f"by_{fixed}"].items():
            if "opt_residence" not in e:
                continue
            a = e["opt_residence"]
            edge_a = " (grid edge)" if a["at_edge"] else ""
            text = (
                f"\n{fixed}={v}: residence minimum at {along} = {a[along]:.3g} "
                f"[{a['lo']:.3g}, {a['hi']:.3g}]{edge_a}"
            )
            for key in (
                ["domains"] + [f"domains_ge{t}" for t in THRESHOLDS] + ["domains_supercritical"]
            ):
                if "min_" + key not in e:
                    continue
                b = e["min_" + key]
                edge_b = " (grid edge)" if b["at_edge"] else ""
                text += (
                    f"; minimum of {key} at {b[along]:.3g} [{b['lo']:.3g}, {b['hi']:.3g}]"
                    f"{edge_b} (coincide: {e['coincide_' + key]})"
                )
            lines.append(text)
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
