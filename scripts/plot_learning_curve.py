"""Validation Pearson against training steps, from the metrics of one or more runs.

Reads the `metrics.csv` that `logger=csv` writes (Lightning's CSVLogger) and draws the
chosen validation metrics against the optimiser step, one line per run; prints the
values at a few step counts as a table for the documentation. Example:

    python scripts/plot_learning_curve.py \
        --run bapst2020=outputs/curve_bapst2020 --run bapst_quick=outputs/make_train \
        --out docs/figures/bapst_learning_curve.png
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from glassml.io import atomic_path  # noqa: E402

DEFAULT_METRICS = ("val/pearson_cfg_A_tau", "val/pearson_A_tau")


def metrics_file(path: Path) -> Path:
    """A run directory (its newest csv/version_*/metrics.csv) or a metrics.csv itself."""
    if path.is_file():
        return path
    found = sorted(path.glob("csv/version_*/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"{path}: no csv/version_*/metrics.csv (train with logger=csv)")
    return found[-1]


def read_curve(path: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) pairs of `metric`, in step order; a missing column is an error."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if metric not in (reader.fieldnames or []):
            raise KeyError(f"{path}: no column {metric!r} (columns: {reader.fieldnames})")
        points = [(int(row["step"]), float(row[metric])) for row in reader if row.get(metric)]
    return sorted(points)


def value_at(points: list[tuple[int, float]], step: int) -> float:
    """The last value logged at or before `step`; NaN before the first one and after the
    run's end (a finished run has no value at a later step)."""
    before = [v for s, v in points if s <= step]
    if not before or step > points[-1][0]:
        return math.nan
    return before[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run", action="append", required=True, help="LABEL=PATH (run dir or metrics.csv)"
    )
    parser.add_argument("--metric", action="append", help=f"default: {', '.join(DEFAULT_METRICS)}")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument(
        "--steps", default="100,200,500,1000,2000,5000,10000,20000", help="table rows"
    )
    parser.add_argument("--title", default="Validation Pearson at tau_alpha, species A")
    args = parser.parse_args()
    metrics = args.metric or list(DEFAULT_METRICS)

    runs = []
    for spec in args.run:
        label, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"--run {spec!r}: expected LABEL=PATH")
        runs.append((label, metrics_file(Path(path))))

    fig, ax = plt.subplots(figsize=(7, 4))
    curves: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for i, (label, path) in enumerate(runs):
        for j, metric in enumerate(metrics):
            pts = read_curve(path, metric)
            curves[(label, metric)] = pts
            name = "per-configuration" if "_cfg_" in metric else "pooled"
            ax.plot(
                [s for s, _ in pts],
                [v for _, v in pts],
                color=f"C{i}",
                linestyle=("-", "--", ":")[j % 3],
                label=f"{label}, {name}",
            )
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("optimiser steps (one configuration each)")
    ax.set_ylabel("Pearson correlation")
    ax.set_title(args.title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)

    ends = sorted({pts[-1][0] for pts in curves.values() if pts})
    steps = sorted({int(s) for s in args.steps.split(",") if int(s) <= ends[-1]} | set(ends))
    header = ["step"] + [f"{label} {m}" for label, m in curves]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for step in steps:
        vals = [value_at(pts, step) for pts in curves.values()]
        cells = ["" if math.isnan(v) else f"{v:.3f}" for v in vals]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
