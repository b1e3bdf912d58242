"""Leaderboard: every training run under a directory in one table, plus published rows.

`glassml-evaluate mode=leaderboard runs_dir=outputs` reads each run's
`test_metrics.json` (written by glassml-train) and `config_resolved.yaml`, ranks the
runs by the roadmap's headline metric (Pearson at tau_alpha, one species) and adds the
published GlassBench numbers, marked "published", and the published models' predictions
that `mode=published` scored from the GlassBench test files (`published_metrics.json`),
marked "recomputed from the files" with the paper's number next to them. For the runs of
each dataset it also writes the per-time-scale comparison (markdown table and PNG,
Pearson vs time per run).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from glassml.data.io import SPECIES_NAMES
from glassml.evaluation.analysis import load_runs
from glassml.evaluation.ceiling import ceiling_from_runs
from glassml.evaluation.markdown import fmt, table
from glassml.evaluation.plots import plot_model_curves
from glassml.evaluation.published import HEADLINES, SOURCE
from glassml.evaluation.report import write_json
from glassml.io import atomic_write_text

KINDS = ("pooled", "per_config")

log = logging.getLogger(__name__)


@dataclass
class RunRow:
    """One training run's test scores for the leaderboard."""

    model: str
    dataset: str
    run: str
    tau: dict[str, float]  # kind -> Pearson at tau_alpha
    mean: dict[str, float]  # kind -> mean over time scales
    time_indices: list[int] = field(default_factory=list)
    times: list[float] | None = None
    tau_index: int | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)  # kind -> [T]
    n_params: int | None = None
    published: bool = False
    label: str = ""  # the run directory relative to runs_dir
    source: str = "run"  # "run" | "recomputed from the files" (mode=published)
    paper: float | None = None  # the paper's Pearson at tau_alpha, for recomputed rows

    def to_dict(self) -> dict[str, Any]:
        def c(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 6)

        return {
            "source": "published" if self.published else self.source,
            "model": self.model,
            "dataset": self.dataset,
            "run": self.run,
            "pearson_tau": {k: c(v) for k, v in self.tau.items()},
            "pearson_mean": {k: c(v) for k, v in self.mean.items()},
            "n_params": self.n_params,
            "time_indices": self.time_indices,
            "times": self.times,
            "curves": {k: [c(v) for v in vs] for k, vs in self.curves.items()},
            "paper": self.paper,
        }


def model_label(run_dir: Path, cfg: DictConfig | None) -> str:
    """The model config name (Hydra choice), else the network class name."""
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    choice = None
    if hydra_file.is_file():
        h = OmegaConf.load(hydra_file)
        choice = OmegaConf.select(h, "hydra.runtime.choices.model")
    if choice:
        return str(choice)
    target = OmegaConf.select(cfg, "model.net._target_") if cfg is not None else None
    if target is None and cfg is not None:
        target = OmegaConf.select(cfg, "model._target_")
    return str(target).rsplit(".", 1)[-1] if target else "?"


def _vals(values: Sequence[float | None] | None) -> list[float]:
    return [math.nan if v is None else float(v) for v in (values or [])]


def read_run(metrics_file: Path, species: str) -> RunRow | None:
    """A leaderboard row from a run's test_metrics.json; None for non-propensity runs."""
    import json

    rep = json.loads(metrics_file.read_text())
    if "pearson" not in rep or "model" not in rep.get("pearson", {}):
        return None
    run_dir = metrics_file.parent
    cfg_file = run_dir / "config_resolved.yaml"
    cfg = OmegaConf.load(cfg_file) if cfg_file.is_file() else None
    dataset = OmegaConf.select(cfg, "dataset.name") if cfg is not None else None
    model = rep["pearson"]["model"].get(species)
    if model is None:
        return None
    idx = list(rep["time_indices"])
    tau_pos = idx.index(rep["tau_alpha_time_index"]) if rep["tau_alpha_time_index"] in idx else -1
    curves = {k: _vals(model.get(k)) for k in KINDS if model.get(k)}
    return RunRow(
        model=model_label(run_dir, cfg),
        dataset=str(dataset or "?"),
        run=str(run_dir),
        tau={k: v[tau_pos] for k, v in curves.items()},
        mean={
            k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for k, v in curves.items()
        },
        time_indices=idx,
        times=rep.get("times"),
        tau_index=rep["tau_alpha_time_index"],
        curves=curves,
        n_params=rep.get("n_params"),
    )


def gather_runs(runs_dir: str | Path, species: str = "A") -> list[RunRow]:
    """Rows of every training run (test_metrics.json) below `runs_dir`."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"runs_dir={root} is not a directory")
    rows = [r for f in sorted(root.rglob("test_metrics.json")) if (r := read_run(f, species))]
    for f in sorted(root.rglob("published_metrics.json")):
        rows += recomputed_rows(f, species)
    for r in rows:
        r.label = str(Path(r.run).relative_to(root))
    return rows


def recomputed_rows(path: Path, species: str) -> list[RunRow]:
    """Rows of the published models' stored predictions scored by mode=published."""
    import json

    from glassml.evaluation.stored import RECOMPUTED, headline

    data = json.loads(path.read_text())
    idx = list(data["time_indices"])
    tau_pos = idx.index(data["tau_alpha_time_index"])
    rows = []
    for key, rep in data["models"].items():
        model = rep["pearson"]["model"].get(species)
        if model is None or rep.get("kind") != "model":
            continue
        curves = {k: _vals(model.get(k)) for k in KINDS if model.get(k)}
        rows.append(
            RunRow(
                model=key,
                dataset=data["dataset"],
                run=str(path.parent),
                tau={k: v[tau_pos] for k, v in curves.items()},
                mean={k: float(np.nanmean(v)) for k, v in curves.items()},
                time_indices=idx,
                times=data.get("times"),
                tau_index=data["tau_alpha_time_index"],
                curves=curves,
                source=RECOMPUTED,
                paper=headline(key, data["dataset"]),
            )
        )
    return rows


def published_rows(species: str = "A") -> list[RunRow]:
    """The roadmap's headline numbers (species A) as rows marked published."""
    if species != "A":
        return []
    out = []
    for h in HEADLINES:
        for ds, v in h.pearson_tau.items():
            out.append(
                RunRow(
                    model=h.model,
                    dataset=ds,
                    run=SOURCE,
                    tau={"published": v},
                    mean={},
                    published=True,
                )
            )
    return out


def _sort_value(row: RunRow, kind: str) -> float:
    v = row.tau.get("published") if row.published else row.tau.get(kind)
    return -math.inf if v is None or not math.isfinite(v) else v


def leaderboard_table(rows: list[RunRow], sort_by: str) -> str:
    """Markdown table of all rows sorted by Pearson at tau_alpha (descending)."""
    other = "pooled" if sort_by == "per_config" else "per_config"
    ranked = sorted(rows, key=lambda r: _sort_value(r, sort_by), reverse=True)
    body = []
    for i, r in enumerate(ranked, 1):
        if r.published:
            body.append(
                [
                    str(i),
                    "**published**",
                    r.model,
                    r.dataset,
                    fmt(r.tau["published"]),
                    "-",
                    "-",
                    "-",
                    r.run,
                ]
            )
        else:
            body.append(
                [
                    str(i),
                    r.source,
                    r.model,
                    r.dataset,
                    fmt(r.tau.get(sort_by)) + ("" if r.paper is None else f" (paper {r.paper})"),
                    fmt(r.tau.get(other)),
                    fmt(r.mean.get(sort_by)),
                    "-" if r.n_params is None else f"{r.n_params:,}",
                    f"`{r.run}`",
                ]
            )
    header = [
        "#",
        "source",
        "model",
        "dataset",
        f"Pearson@tau ({sort_by})",
        f"Pearson@tau ({other})",
        f"mean over t ({sort_by})",
        "params",
        "run",
    ]
    return table(header, body)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "dataset"


def dataset_ceiling(
    run_dir: Path, time_indices: list[int], species: str, kind: str, n_splits: int = 20
) -> np.ndarray | None:
    """Iso-configurational ceiling on the test split of a run's dataset, or None.

    None when the dataset files are not there or hold no per-run displacements.
    """
    from hydra.utils import instantiate

    cfg_file = run_dir / "config_resolved.yaml"
    if not cfg_file.is_file():
        return None
    cfg = OmegaConf.load(cfg_file)
    try:
        dm = instantiate(cfg.dataset)
        files = dm.split_files()["test"]
    except (OSError, ValueError) as exc:
        log.info("no ceiling for %s: %s", run_dir, exc)
        return None
    runs = load_runs(files, str(cfg.dataset.target), time_indices)
    if not runs:
        return None
    s = SPECIES_NAMES.index(species)
    masks = []
    for f in files:
        with np.load(f) as data:
            masks.append(np.asarray(data["types"]) == s)
    return ceiling_from_runs(runs, masks, n_splits=n_splits).ceiling[kind]


def per_time_comparison(
    rows: list[RunRow], kind: str, out_dir: Path, species: str = "A", ceiling: bool = True
) -> list[tuple[str, str, str]]:
    """Per dataset: markdown table (runs x time scales) and a PNG of Pearson vs time,
    with the iso-configurational ceiling of the dataset's test split when available.

    Returns (dataset, markdown, png name) per dataset with at least one run.
    """
    out = []
    by_ds: dict[str, list[RunRow]] = {}
    for r in rows:
        if not r.published:
            by_ds.setdefault(r.dataset, []).append(r)
    for ds, runs in sorted(by_ds.items()):
        all_idx = sorted({i for r in runs for i in r.time_indices})
        times: dict[int, float] = {}
        for r in runs:
            if r.times is not None:
                times.update(zip(r.time_indices, r.times, strict=True))
        tau = runs[0].tau_index
        labels = []
        for i in all_idx:
            lab = f"{times[i]:.4g}" if i in times else f"idx {i}"
            labels.append(lab + (" (tau)" if i == tau else ""))
        body, curves = [], []
        for r in sorted(runs, key=lambda r: _sort_value(r, kind), reverse=True):
            vals = dict(zip(r.time_indices, r.curves.get(kind, []), strict=False))
            body.append([r.model, r.label or r.run] + [fmt(vals.get(i)) for i in all_idx])
            x = [times[i] if len(times) == len(all_idx) else i for i in r.time_indices]
            curves.append(
                (
                    f"{r.model} ({r.label or r.run})",
                    np.asarray(x, float),
                    np.asarray(r.curves.get(kind, [math.nan] * len(x)), float),
                )
            )
        ours = [r for r in runs if r.source == "run"]
        ceil = None
        if ceiling and ours:
            ceil = dataset_ceiling(Path(ours[0].run), all_idx, species, kind)
        ceil_curve = None
        if ceil is not None:
            body.append(["iso-configurational ceiling", "test split"] + [fmt(v) for v in ceil])
            x = [times[i] if len(times) == len(all_idx) else i for i in all_idx]
            ceil_curve = (np.asarray(x, float), np.asarray(ceil, float))
        md = table(["model", "run", *labels], body)
        png = f"pearson_vs_time_{_slug(ds)}.png"
        logx = len(times) == len(all_idx)
        plot_model_curves(
            curves,
            out_dir / png,
            "time" if logx else "time index",
            logx,
            title=f"{ds}: Pearson ({kind}) per time scale",
            ceiling=ceil_curve,
        )
        out.append((ds, md, png))
    return out


def run_leaderboard(cfg: DictConfig) -> dict[str, Any]:
    """mode=leaderboard: leaderboard.md, leaderboard.json and one PNG per dataset."""
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lb = cfg.leaderboard
    if lb.sort_by not in KINDS:
        raise ValueError(f"leaderboard.sort_by must be one of {KINDS}, got {lb.sort_by!r}")
    rows = gather_runs(cfg.runs_dir, lb.species)
    if not lb.published:
        rows = [r for r in rows if r.source == "run"]
    if not rows:
        raise FileNotFoundError(
            f"no propensity training runs (test_metrics.json with Pearson scores) below "
            f"runs_dir={cfg.runs_dir}"
        )
    all_rows = rows + (published_rows(lb.species) if lb.published else [])
    parts = [
        f"# Leaderboard: Pearson at tau_alpha, species {lb.species}",
        "",
        f"{len(rows)} runs from `{cfg.runs_dir}`; rows marked **published** are literature "
        f"values ({SOURCE}) on the GlassBench dataset named in the row, not runs of ours: "
        "compare like with like (same dataset). Rows *recomputed from the files* are the "
        "published models' predictions stored in the GlassBench test files, scored by "
        "`glassml-evaluate mode=published` with our metrics (the paper's value in brackets).",
        "",
        leaderboard_table(all_rows, lb.sort_by),
        "",
    ]
    comparisons = per_time_comparison(rows, lb.sort_by, out_dir, lb.species, lb.ceiling)
    for ds, md, png in comparisons:
        parts += [
            f"## {ds}: Pearson ({lb.sort_by}) per time scale",
            "",
            md,
            "",
            f"![{ds}]({png})",
            "",
        ]
    text = "\n".join(parts)
    atomic_write_text(out_dir / "leaderboard.md", text)
    data = {
        "species": lb.species,
        "sort_by": lb.sort_by,
        "runs_dir": str(cfg.runs_dir),
        "rows": [
            r.to_dict()
            for r in sorted(all_rows, key=lambda r: _sort_value(r, lb.sort_by), reverse=True)
        ],
    }
    write_json(out_dir / "leaderboard.json", data)
    print(text, flush=True)
    return data
