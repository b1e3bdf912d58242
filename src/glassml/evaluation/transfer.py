"""Transferability matrix: every trained checkpoint scored on every training dataset.

`glassml-evaluate mode=transfer runs_dir=DIR` finds the training runs under DIR (each
`checkpoints/best.ckpt` holds its config), takes the datasets they were trained on as
the columns, and scores each checkpoint on the test split of each dataset: Pearson at
tau_alpha for one species. Diagonal = the usual test score; off-diagonal = transfer
(e.g. trained at T = 0.64, tested at T = 0.44).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from glassml.evaluation.evaluate import (
    build_datamodule,
    load_checkpoint,
    load_module,
    predict,
    resolve_device,
)
from glassml.evaluation.leaderboard import model_label
from glassml.evaluation.markdown import fmt, table
from glassml.evaluation.plots import plot_heatmap
from glassml.evaluation.report import write_json
from glassml.io import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class TransferResult:
    rows: list[str]  # checkpoint labels (trained on)
    cols: list[str]  # dataset labels (tested on)
    pooled: np.ndarray  # [rows, cols]
    per_config: np.ndarray  # [rows, cols]
    checkpoints: list[str]

    def to_dict(self) -> dict[str, Any]:
        def clean(a: np.ndarray) -> list[list[float | None]]:
            return [[None if not np.isfinite(v) else round(float(v), 6) for v in r] for r in a]

        return {
            "trained_on": self.rows,
            "tested_on": self.cols,
            "checkpoints": self.checkpoints,
            "pooled": clean(self.pooled),
            "per_config": clean(self.per_config),
        }


def find_checkpoints(runs_dir: str | Path) -> list[Path]:
    """`checkpoints/best.ckpt` of every training run below `runs_dir`, sorted."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"runs_dir={root} is not a directory")
    found = sorted(root.rglob("checkpoints/best.ckpt"))
    if not found:
        raise FileNotFoundError(
            f"no training runs (checkpoints/best.ckpt) below runs_dir={root}; train with "
            "glassml-train first"
        )
    return found


def _dataset_label(ds: DictConfig) -> str:
    return str(ds.get("name") or Path(str(ds.root)).name)


def transfer_matrix(
    checkpoints: list[Path], species: int = 0, batch_size: int = 1, device: str = "auto"
) -> TransferResult:
    """Pearson at tau_alpha of each checkpoint (row) on each training dataset (column)."""
    device = resolve_device(device)
    loaded, kept = [], []
    for p in checkpoints:
        try:
            ckpt, run_cfg, info = load_checkpoint(p)
        except (ValueError, TypeError, KeyError) as exc:  # other tasks' checkpoints
            log.warning("skipping %s: not a propensity checkpoint (%s)", p, exc)
            continue
        loaded.append((ckpt, run_cfg, info))
        kept.append(p)
    if not loaded:
        raise FileNotFoundError("none of the checkpoints is a propensity-model checkpoint")
    checkpoints = kept
    datasets: dict[str, DictConfig] = {}
    rows = []
    for path, (_, run_cfg, _) in zip(checkpoints, loaded, strict=True):
        label = _dataset_label(run_cfg.dataset)
        key = json.dumps({"name": label, "root": str(run_cfg.dataset.root)})
        datasets.setdefault(key, run_cfg.dataset)
        model = model_label(path.parent.parent, run_cfg)
        rows.append(f"{label} / {model} ({path.parent.parent.name})")
    cols = [_dataset_label(d) for d in datasets.values()]
    pooled = np.full((len(rows), len(cols)), np.nan)
    per_cfg = np.full_like(pooled, np.nan)
    for i, (ckpt, run_cfg, info) in enumerate(loaded):
        module = load_module(ckpt, run_cfg, info, device)
        for j, ds in enumerate(datasets.values()):
            dm = build_datamodule(ds, info, batch_size, train_dataset_cfg=run_cfg.dataset)
            if len(dm.datasets["test"]) == 0:
                raise ValueError(f"dataset {cols[j]} has no test configurations")
            _, scores = predict(module, dm, "test", device)
            if ("pooled", species) not in scores:
                log.warning(
                    "%s: species %s was not trained (dataset.train_species); its row stays "
                    "empty (train with dataset.train_species=all to score it)",
                    rows[i],
                    info.species_names[species],
                )
                break
            pooled[i, j] = scores[("pooled", species)][info.tau_position]
            per_cfg[i, j] = scores[("per_config", species)][info.tau_position]
            log.info("%s on %s: pooled %.3f", rows[i], cols[j], pooled[i, j])
    return TransferResult(rows, cols, pooled, per_cfg, [str(p) for p in checkpoints])


def run_transfer(cfg: DictConfig) -> dict[str, Any]:
    """mode=transfer: matrix, transfer.json, transfer.md and transfer_heatmap.png."""
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    species = int(cfg.transfer.species)
    kind = str(cfg.transfer.kind)
    if kind not in ("pooled", "per_config"):
        raise ValueError(f"transfer.kind must be pooled or per_config, got {kind!r}")
    res = transfer_matrix(find_checkpoints(cfg.runs_dir), species, cfg.batch_size, cfg.device)
    data = {"species": species, "kind": kind, "metric": "Pearson at tau_alpha", **res.to_dict()}
    write_json(out_dir / "transfer.json", data)
    mat = res.pooled if kind == "pooled" else res.per_config
    rows = [[r] + [fmt(v) for v in mat[i]] for i, r in enumerate(res.rows)]
    md = "\n".join(
        [
            f"# Transfer matrix: Pearson at tau_alpha ({kind}, species index {species})",
            "",
            "rows: trained on (run directory); columns: tested on (test split)",
            "",
            table(["trained on \\ tested on", *res.cols], rows),
            "",
            "![transfer heatmap](transfer_heatmap.png)",
            "",
        ]
    )
    atomic_write_text(out_dir / "transfer.md", md)
    plot_heatmap(
        mat,
        res.rows,
        res.cols,
        out_dir / "transfer_heatmap.png",
        title=f"Pearson at tau_alpha ({kind})",
    )
    print(md, flush=True)
    return data
