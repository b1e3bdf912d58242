"""Figures of the documentation, made from the embedded sample (data/sample).

Trains the ridge baseline on the glass_mlp descriptors (`experiment=sample_ridge`: a
closed-form fit, under a minute on one core), scores it with `glassml-evaluate`, and
draws docs/_static/figures/propensity_map.png from the evaluation's predictions.npz and
metrics.json: a slab of one test configuration coloured by the true and the predicted
propensity at tau_alpha, and the test Pearson correlation of species A against time
with the local-density baseline and the iso-configurational ceiling.

    python scripts/make_doc_figures.py                 # about 1 minute on 2 cores
    python scripts/make_doc_figures.py --work runs/    # keep the runs; a second call reuses them

Deterministic: the split, the ridge fit and the bootstrap are seeded by the configs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "_static" / "figures"


def run(module: str, *overrides: str) -> None:
    """One glassml entry point in a child process, as a user would run it."""
    cmd = [sys.executable, "-m", module, *overrides]
    print("+", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def train_and_evaluate(work: Path) -> Path:
    """Ridge on data/sample, then its evaluation; returns the evaluation run directory.
    Runs kept in `work` from an earlier call are reused (only the figure is redrawn)."""
    train_dir, eval_dir = work / "train", work / "evaluate"
    if (eval_dir / "metrics.json").exists() and (eval_dir / "predictions.npz").exists():
        print(f"reusing the evaluation in {eval_dir}")
        return eval_dir
    common = [f"paths.cache_dir={work / 'cache'}"]
    run(
        "glassml.cli.train",
        "experiment=sample_ridge",
        "logger=csv",
        f"hydra.run.dir={train_dir}",
        *common,
    )
    run(
        "glassml.cli.evaluate",
        f"ckpt_path={train_dir / 'checkpoints' / 'best.ckpt'}",
        "published_overlay=false",
        f"hydra.run.dir={eval_dir}",
        *common,
    )
    return eval_dir


def propensity_figure(eval_dir: Path, path: Path, config: int = 0, slab: float = 2.0) -> None:
    """True and predicted propensity maps at tau_alpha and Pearson vs time (species A)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = np.load(eval_dir / "predictions.npz")
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    tau_col = metrics["time_indices"].index(metrics["tau_alpha_time_index"])
    times = np.asarray(metrics["times"], dtype=float)
    x = times / times[tau_col]

    rows = pred["config_index"] == config
    pos, box = pred["positions"][rows], pred["box"][config]
    true, guess = pred["targets"][rows, tau_col], pred["predictions"][rows, tau_col]
    in_slab = np.abs(pos[:, 2] - box[2] / 2) < slab / 2

    plt.rcParams.update({"font.size": 11})
    fig, axes = plt.subplots(
        1, 3, figsize=(10.5, 3.5), gridspec_kw={"width_ratios": [1, 1, 1.35]}, layout="constrained"
    )
    for ax, values, title in (
        (axes[0], true, r"measured at $\tau_\alpha$"),
        (axes[1], guess, "predicted from structure"),
    ):
        # own colour scale per panel (predictions are compressed towards the mean):
        # blue = less mobile than typical, red = more
        lo, hi = np.percentile(values, [2, 98])
        ax.scatter(
            pos[in_slab, 0], pos[in_slab, 1], c=values[in_slab], s=30, cmap="coolwarm",
            vmin=lo, vmax=hi, edgecolors="none",
        )  # fmt: skip
        ax.set(xlim=(0, box[0]), ylim=(0, box[1]), aspect="equal")
        ax.set_title(title, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])

    ax = axes[2]
    pooled = metrics["pearson"]
    ax.plot(x, pooled["model"]["A"]["pooled"], "o-", color="C0", label="ridge on descriptors")
    ci = metrics["pearson_ci"]["A"]["pooled"]
    ax.fill_between(x, ci["low"], ci["high"], color="C0", alpha=0.2)
    ax.plot(
        x, pooled["baseline_local_density"]["A"]["pooled"], "s--", color="C1",
        label="local density",
    )  # fmt: skip
    ceiling = metrics["ceiling"]["A"]["ceiling"]["pooled"]
    ax.plot(x, ceiling, "k:", lw=2, label="iso-configurational ceiling")
    ax.set(
        xscale="log", xlabel=r"$t / \tau_\alpha$", ylabel="Pearson r (species A, test)",
        ylim=(-0.05, 1.0),
    )  # fmt: skip
    ax.axhline(0, color="k", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="center left", frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="keep the runs here (default: a temporary dir)")
    ap.add_argument("--out", type=Path, default=OUT, help="figure directory")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.work or Path(tmp)).resolve()
        eval_dir = train_and_evaluate(work)
        propensity_figure(eval_dir, args.out / "propensity_map.png")


if __name__ == "__main__":
    main()
