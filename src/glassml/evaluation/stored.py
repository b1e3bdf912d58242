"""The published models' predictions stored in the GlassBench test files, scored by our metrics.

GlassBench's test files hold, next to the propensities, the predictions of the models of
the roadmap (`BOTAN`, `CAGE`, `GlassMLP`, `SE3`) and structural descriptors (`SBO`,
`SBO_CG`, `DEN`, `EPOT`, `PSI6`). Their shapes are not documented: a per-time array
[n_times, N] is read row by row like `md_prop`, a single [N] array (one value per
particle) is scored against every time; anything else is refused with the file named.

`glassml-evaluate mode=published` (`run_published`) scores every stored array exactly
as `glassml-evaluate` scores a checkpoint (the same `SpeciesPearson`, bootstrap, chi4
and C(r) code), so that the day the real files are on disk our metric code is checked
against the roadmap's table; `stored_pearson` gives the curves that our own runs'
reports draw next to the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from glassml.data.io import DatasetError, load_npz, npz_keys
from glassml.evaluation.analysis import Predictions, analyse, metric_options
from glassml.evaluation.markdown import fmt, table
from glassml.evaluation.plots import time_axis
from glassml.evaluation.published import CURVES, HEADLINES, SOURCE
from glassml.evaluation.report import report_dict, write_json
from glassml.io import atomic_write_text
from glassml.training.metrics import SpeciesPearson

log = logging.getLogger(__name__)

#: Predictions of the roadmap's models in the GlassBench test files.
MODEL_KEYS: tuple[str, ...] = ("BOTAN", "CAGE", "GlassMLP", "SE3")
#: Structural descriptors in the same files.
DESCRIPTOR_KEYS: tuple[str, ...] = ("SBO", "SBO_CG", "DEN", "EPOT", "PSI6")
#: Names the roadmap (and glassml.evaluation.published) gives the stored arrays.
PAPER_NAMES: dict[str, str] = {"SE3": "SE(3) GNN", "EPOT": "potential energy alone"}

#: Label of rows computed here, as opposed to numbers copied from the paper.
RECOMPUTED = "recomputed from the files"


def stored_keys(files: Sequence[str | Path], candidates: Sequence[str]) -> list[str]:
    """The candidate keys the files hold; a key must be in every file or in none."""
    present = [set(npz_keys(p)) for p in files]
    keys = []
    for key in candidates:
        holding = [key in s for s in present]
        if all(holding):
            keys.append(key)
        elif any(holding):
            missing = files[holding.index(False)]
            raise DatasetError(
                f"{missing}: has no key '{key}' while {sum(holding)} of the {len(files)} "
                "files of the split hold it; expected it in every file of the split"
            )
    return keys


def read_stored(
    path: str | Path, key: str, n_times: int, n_particles: int, time_indices: Sequence[int]
) -> np.ndarray:
    """One stored array as [N, T_selected]: per-time rows selected, a single array repeated."""
    arr = np.asarray(load_npz(path, [key])[key], dtype=np.float64)
    if arr.shape == (n_times, n_particles):
        out = arr[list(time_indices)].T
    elif arr.shape == (n_particles,):
        out = np.repeat(arr[:, None], len(time_indices), axis=1)
    else:
        raise DatasetError(
            f"{path}: key '{key}' has shape {arr.shape}; expected per-time predictions "
            f"({n_times}, {n_particles}) like md_prop, or one value per particle ({n_particles},)"
        )
    if not np.all(np.isfinite(out)):
        raise DatasetError(f"{path}: key '{key}' holds NaN/inf values")
    return out


def stacked(
    files: Sequence[str | Path], key: str, n_times: int, sizes: Sequence[int], time_idx: list[int]
) -> np.ndarray:
    """A stored key of every file, concatenated over configurations: [sum N, T]."""
    return np.concatenate(
        [read_stored(p, key, n_times, n, time_idx) for p, n in zip(files, sizes, strict=True)]
    )


def pearson_scores(
    pred: np.ndarray, truth: np.ndarray, species: np.ndarray, config_index: np.ndarray, n_s: int
) -> dict[tuple[str, int], np.ndarray]:
    """Pooled and per-configuration Pearson per species, with the metric our models use."""
    metric = SpeciesPearson(list(range(n_s)), truth.shape[1])
    sp, cfg = torch.from_numpy(species), torch.from_numpy(config_index)
    for k in np.unique(config_index):  # one configuration per update, as in evaluation
        m = torch.from_numpy(config_index == k)
        metric.update(torch.from_numpy(pred)[m], torch.from_numpy(truth)[m], sp[m], cfg[m])
    return {k: v.double().numpy() for k, v in metric.compute().items()}


def stored_pearson(
    files: Sequence[str | Path],
    pred: Predictions,
    n_times: int,
    time_indices: list[int],
    species_names: Sequence[str],
    keys: Sequence[str] = MODEL_KEYS,
    species: Sequence[int] | None = None,
) -> dict[str, dict[str, dict[str, list[float | None]]]]:
    """{key: {species: {"pooled"|"per_config": [T]}}} of the stored predictions of `keys`
    on the same particles and times as `pred` (the curves our reports draw), for
    `species` (default every species present; evaluate passes the model's scored ones)."""
    out: dict[str, dict[str, dict[str, list[float | None]]]] = {}
    if not files or not all(str(p).endswith(".npz") for p in files):
        return out  # only GlassBench-layout files store predictions
    sizes = np.bincount(pred.config_index, minlength=len(files)).tolist()
    for key in stored_keys(files, keys):
        p = stacked(files, key, n_times, sizes, time_indices)
        scores = pearson_scores(
            p, pred.truth, pred.species, pred.config_index, int(pred.species.max()) + 1
        )
        for (kind, s), r in scores.items():
            if species is not None and s not in species:
                continue
            vals = [None if not math.isfinite(v) else round(float(v), 6) for v in r]
            if any(v is not None for v in vals):
                out.setdefault(key, {}).setdefault(species_names[s], {})[kind] = vals
    return out


def _datamodule(cfg: DictConfig):
    """The dataset of the evaluation config, without augmentation or descriptors."""
    if cfg.get("dataset") is None:
        raise ValueError(
            "mode=published needs a dataset: glassml-evaluate mode=published "
            "dataset=glassbench_ka3d dataset.temperature=0.44"
        )
    ds = OmegaConf.create(OmegaConf.to_container(cfg.dataset, resolve=True))
    with open_dict(ds):
        ds.augmentation = None
        ds.node_features = []
        ds.time_indices = None
    dm = instantiate(ds)
    dm.setup()
    return dm


def paper_values(dataset: str, key: str, times: Sequence[float] | None) -> dict[str, list]:
    """The roadmap's per-time curves of this model, when `dataset` and its grid are theirs."""
    name = PAPER_NAMES.get(key, key)
    if times is None:
        return {}
    return {
        c.kind: list(c.values)
        for c in CURVES
        if c.model == name
        and c.dataset == dataset
        and len(times) == len(c.times)
        and np.allclose(times, c.times, rtol=1e-3)
    }


def run_published(cfg: DictConfig) -> dict[str, Any]:
    """mode=published: score the stored predictions/descriptors of the test split.

    Writes `published_metrics.json` (per stored array: the report our evaluation writes
    for a checkpoint, marked "recomputed from the files"), `published.md` and
    `published_pearson_<species>.png`, and prints the table.
    """
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    opts = cfg.published
    dm = _datamodule(cfg)
    info = dm.info
    split = cfg.split
    files = [str(p) for p in dm.files[split]]
    if not files:
        raise ValueError(f"the dataset has no '{split}' configurations")
    raws = dm.raw[split]
    truth = np.concatenate(dm.raw_targets(split))
    pred0 = Predictions(
        pred=truth,
        truth=truth,
        species=np.concatenate([r["species"].numpy() for r in raws]),
        config_index=np.concatenate(
            [np.full(len(r["species"]), k) for k, r in enumerate(raws)]
        ).astype(np.int64),
        positions=np.concatenate([r["pos"].double().numpy() for r in raws]),
        boxes=np.stack([r["box"].double().numpy() for r in raws]),
    )
    sizes = [len(r["species"]) for r in raws]
    n_times = int(raws[0]["target"].shape[0])
    kinds = {k: "model" for k in opts.models} | {k: "descriptor" for k in opts.descriptors}
    keys = stored_keys(files, list(kinds))
    if not keys:
        raise DatasetError(
            f"{dm.root}: the {split} files hold none of {list(kinds)} (published.models, "
            "published.descriptors); the GlassBench test files do"
        )
    m = cfg.metrics
    results: dict[str, Any] = {}
    for key in keys:
        p = stacked(files, key, n_times, sizes, info.time_indices)
        pred = Predictions(
            p, truth, pred0.species, pred0.config_index, pred0.positions, pred0.boxes
        )
        scores = pearson_scores(p, truth, pred.species, pred.config_index, info.num_species)
        rep = report_dict(
            info,
            scores,
            None,
            n_configs=len(files),
            split=split,
            extra={"key": key, "kind": kinds[key], "source": RECOMPUTED},
            # the stored arrays cover every species in the files, and every one is scored
            species=np.unique(pred.species).tolist(),
        )
        rep.update(
            analyse(
                pred,
                info.species_names,
                info.tau_position,
                runs=None,
                **metric_options(m),
            )
        )
        rep["notes"] = [n for n in rep["notes"] if not n.startswith("ceiling")]
        rep["paper"] = paper_values(dm.name, key, info.times)
        results[key] = rep
    summary = {
        "source": RECOMPUTED,
        "dataset": dm.name,
        "temperature": dm.temperature,
        "split": split,
        "files": files,
        "n_configs": len(files),
        "time_indices": info.time_indices,
        "times": info.times,
        "is_values": info.is_values,
        "tau_alpha_time_index": info.time_indices[info.tau_position],
        "species_names": info.species_names[: info.num_species],
        "paper_source": SOURCE,
        "models": results,
    }
    write_json(out_dir / "published_metrics.json", summary)
    text = published_markdown(summary, str(opts.species))
    png = f"published_pearson_{opts.species}.png"
    plot_published(summary, str(opts.species), out_dir / png)
    atomic_write_text(out_dir / "published.md", text + f"\n![Pearson vs time]({png})\n")
    print(format_published(summary, str(opts.species)), flush=True)
    return summary


def format_published(summary: dict[str, Any], species: str) -> str:
    """Terminal table: per-configuration / pooled Pearson of every stored array per time,
    the paper's value (per configuration unless marked pooled) where it publishes one."""
    times, idx = summary["times"], summary["time_indices"]
    tau = summary["tau_alpha_time_index"]
    keys = list(summary["models"])
    lines = [
        f"{summary['dataset']} {summary['split']} files ({summary['n_configs']} configurations), "
        f"species {species}: Pearson of the stored arrays, {RECOMPUTED}",
        "cells: per-configuration/pooled; [paper] = copied from the roadmap "
        "(per configuration; 'p' = pooled)",
        f"{'idx':>7} {'time':>9} | " + " | ".join(f"{k:^20}" for k in keys),
    ]
    for k, t_idx in enumerate(idx):
        t = "-" if times is None else f"{times[k]:.4g}"
        cells = []
        for rep in summary["models"].values():
            pc, po = _curve(rep, species, "per_config")[k], _curve(rep, species, "pooled")[k]
            cell = f"{fmt(pc)}/{fmt(po)}"
            paper = rep.get("paper", {})
            if paper.get("per_config"):
                cell += f" [{paper['per_config'][k]:.3f}]"
            elif paper.get("pooled"):
                cell += f" [p{paper['pooled'][k]:.3f}]"
            cells.append(f"{cell:<20}")
        mark = " tau" if t_idx == tau else ""
        lines.append(f"{t_idx:>3}{mark:<4} {t:>9} | " + " | ".join(cells))
    return "\n".join(lines)


def _curve(rep: dict[str, Any], species: str, kind: str) -> list[float | None]:
    return rep["pearson"]["model"].get(species, {}).get(kind, [None] * len(rep["time_indices"]))


def published_markdown(summary: dict[str, Any], species: str) -> str:
    """Per-time Pearson of every stored array, pooled and per configuration (with the
    bootstrap 95% interval), and the paper's value where it publishes one."""
    times, idx = summary["times"], summary["time_indices"]
    tau = summary["tau_alpha_time_index"]
    lines = [
        f"# Published predictions in the {summary['split']} files, {RECOMPUTED}",
        "",
        f"{summary['dataset']}, {summary['n_configs']} configurations, species {species}. "
        "Our metrics (glassml.training.metrics.SpeciesPearson; bootstrap over "
        "configurations) on the arrays stored in the files; in brackets the value "
        f"copied from the paper ({summary['paper_source']}) where it publishes one.",
        "",
    ]
    for kind, title in (("per_config", "mean per configuration"), ("pooled", "pooled")):
        header = ["idx", "time", *summary["models"]]
        body = []
        for k, t_idx in enumerate(idx):
            t = "-" if times is None else f"{times[k]:.4g}"
            row = [f"{t_idx}" + (" (tau)" if t_idx == tau else ""), t]
            for rep in summary["models"].values():
                v = _curve(rep, species, kind)[k]
                ci = rep.get("pearson_ci", {}).get(species, {}).get(kind)
                lo, hi = (ci["low"][k], ci["high"][k]) if ci else (None, None)
                cell = fmt(v) + ("" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]")
                paper = rep.get("paper", {}).get(kind)
                if paper:
                    cell += f" (paper {paper[k]:.3f})"
                row.append(cell)
            body.append(row)
        lines += [f"## Pearson, {title}", "", table(header, body), ""]
    chi = [
        [key, *[fmt(v) for v in rep.get("chi4", {}).get(species, {}).get("pred", [])]]
        for key, rep in summary["models"].items()
    ]
    first = next(iter(summary["models"].values()))
    true = first.get("chi4", {}).get(species, {}).get("true")
    if true:
        chi.insert(0, ["truth", *[fmt(v) for v in true]])
        labels = [f"{t:.4g}" for t in times] if times is not None else [str(i) for i in idx]
        lines += [f"## chi4 (species {species})", "", table(["", *labels], chi), ""]
    xi = [
        [
            key,
            fmt(rep.get("spatial", {}).get(species, {}).get("xi_pred")),
            fmt(rep.get("spatial", {}).get(species, {}).get("xi_true")),
        ]
        for key, rep in summary["models"].items()
    ]
    lines += [
        f"## C(r) correlation length at tau_alpha (species {species})",
        "",
        table(["", "xi predicted", "xi true"], xi),
        "",
    ]
    return "\n".join(lines)


def plot_published(summary: dict[str, Any], species: str, path: Path) -> None:
    """Per-configuration Pearson vs time of every stored array: models solid, the paper's
    curve of the same model dashed in the same colour, descriptors thin and dotted."""
    from glassml.evaluation.plots import _plt
    from glassml.evaluation.report import save_figure

    plt = _plt()
    first = next(iter(summary["models"].values()))
    x, xlabel, logx = time_axis(first)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for j, (key, rep) in enumerate(summary["models"].items()):
        y = np.array([np.nan if v is None else v for v in _curve(rep, species, "per_config")])
        color = f"C{j % 10}"
        if rep.get("kind") == "descriptor":
            ax.plot(x, y, ":", color=color, lw=1, label=f"{key} (descriptor)")
            continue
        ax.plot(x, y, "o-", color=color, label=f"{key} ({RECOMPUTED})")
        paper = rep.get("paper", {}).get("per_config")
        if paper:
            ax.plot(x, paper, "--", color=color, alpha=0.7, label=f"{key} (paper)")
    if logx:
        ax.set_xscale("log")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"Pearson, mean per configuration (species {species})")
    ax.set_title(f"{summary['dataset']}: predictions stored in the {summary['split']} files")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, path)
    plt.close(fig)


def headline(key: str, dataset: str) -> float | None:
    """The paper's headline Pearson at tau_alpha of this stored model on this dataset."""
    name = PAPER_NAMES.get(key, key)
    for h in HEADLINES:
        if h.model == name and dataset in h.pearson_tau:
            return h.pearson_tau[dataset]
    return None
