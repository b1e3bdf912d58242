"""All GlassBench metrics of one set of predictions, as one JSON-ready dict.

Input: per-particle predictions and targets of a split (what `glassml-evaluate` writes
to predictions.npz) and, for the ceiling, the dataset files with per-run displacements.
Pure numpy: tests and notebooks call `analyse` without a model or Hydra.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassml.evaluation.bootstrap import Moments, bootstrap_pearson
from glassml.evaluation.ceiling import ceiling_from_runs
from glassml.evaluation.chi4 import chi4, stack_species
from glassml.evaluation.spatial import spatial_correlation

log = logging.getLogger(__name__)

#: Targets whose per-run displacements the files store (key of the per-run array).
RUNS_KEYS: dict[str, str] = {"md_prop": "md_prop_runs"}


@dataclass
class Predictions:
    """Per-particle arrays of one split, concatenated over configurations."""

    pred: np.ndarray  # [n, T]
    truth: np.ndarray  # [n, T]
    species: np.ndarray  # [n]
    config_index: np.ndarray  # [n], 0..C-1
    positions: np.ndarray  # [n, d]
    boxes: np.ndarray  # [C, d]

    @property
    def n_configs(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        with np.load(path) as f:
            return cls(
                f["predictions"].astype(np.float64),
                f["targets"].astype(np.float64),
                f["species"].astype(np.int64),
                f["config_index"].astype(np.int64),
                f["positions"].astype(np.float64),
                f["box"].astype(np.float64),
            )


def load_runs(
    files: Sequence[str | Path], target: str, time_indices: Sequence[int]
) -> list[np.ndarray] | None:
    """Per-run displacements [n_runs, T_selected, N] of every file, or None if absent."""
    key = RUNS_KEYS.get(target)
    if key is None:
        return None
    runs = []
    for path in files:
        with np.load(path, allow_pickle=False) as f:
            if key not in f.files:
                return None
            arr = f[key]
        if arr.ndim != 3 or max(time_indices) >= arr.shape[1]:
            raise ValueError(
                f"{path}: key '{key}' has shape {arr.shape}, expected (n_runs, n_times, N) "
                f"covering time indices {list(time_indices)}"
            )
        runs.append(arr[:, list(time_indices), :])
    return runs


def _clean(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in np.asarray(a)]


def metric_options(metrics: Any) -> dict[str, dict[str, Any]]:
    """The bootstrap, chi4 and spatial keyword arguments of `analyse` from the `metrics` config."""
    return {
        "bootstrap": dict(metrics.bootstrap),
        "chi4_opts": {
            "quantile": metrics.chi4.quantile,
            "threshold": metrics.chi4.threshold,
            "sharpness": metrics.chi4.get("sharpness"),
            "mobility": metrics.chi4.get("mobility") or "indicator",
        },
        "spatial": {
            "r_max": metrics.spatial.r_max,
            "bin_width": metrics.spatial.bin_width,
            "min_pairs": metrics.spatial.min_pairs,
        },
    }


def analyse(
    p: Predictions,
    species_names: Sequence[str],
    tau_position: int,
    runs: list[np.ndarray] | None = None,
    bootstrap: dict[str, Any] | None = None,
    chi4_opts: dict[str, Any] | None = None,
    spatial: dict[str, Any] | None = None,
    ceiling: dict[str, Any] | None = None,
    spatial_position: int | None = None,
    species: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Bootstrap CIs, chi4, spatial correlation and ceiling per species present (only those
    in `species` when given: a checkpoint's trained species).

    Returns {"pearson_ci": {S: {"pooled"|"per_config": {value, low, high}}},
    "chi4": {S: {...}}, "spatial": {S: {...}}, "ceiling": {S: {...}}} with S the species
    names; sections that cannot be computed are omitted with a note in "notes".
    """
    bootstrap = dict(bootstrap or {})
    chi4_opts = dict(chi4_opts or {})
    spatial = dict(spatial or {})
    ceiling = dict(ceiling or {})
    out: dict[str, Any] = {"pearson_ci": {}, "chi4": {}, "spatial": {}, "ceiling": {}, "notes": []}
    n_cfg = p.n_configs
    sp_pos = tau_position if spatial_position is None else spatial_position
    present = [int(s) for s in np.unique(p.species)]
    for s in present if species is None else [s for s in present if s in set(species)]:
        name = species_names[s]
        m = p.species == s
        mom = Moments.from_groups(p.pred[m], p.truth[m], p.config_index[m], n_cfg)
        cis = bootstrap_pearson(mom, **bootstrap)
        out["pearson_ci"][name] = {k: v.to_dict() for k, v in cis.items()}

        if n_cfg >= 2:
            try:
                true3 = stack_species(p.truth, p.species, p.config_index, s)
                pred3 = stack_species(p.pred, p.species, p.config_index, s)
                res = chi4(true3, pred3, **chi4_opts)
                out["chi4"][name] = {"n_particles": int(true3.shape[1]), **res.to_dict()}
            except ValueError as exc:
                out["notes"].append(f"chi4 {name}: {exc}")
        else:
            out["notes"].append("chi4 needs at least two configurations")

        pos_k, box_k, true_k, pred_k = [], [], [], []
        for k in range(n_cfg):
            mk = m & (p.config_index == k)
            pos_k.append(p.positions[mk])
            box_k.append(p.boxes[k])
            true_k.append(p.truth[mk, sp_pos])
            pred_k.append(p.pred[mk, sp_pos])
        sc = spatial_correlation(pos_k, box_k, [true_k, pred_k], **spatial)
        out["spatial"][name] = {
            "time_position": sp_pos,
            "r": _clean(sc.r),
            "true": _clean(sc.c[0]),
            "pred": _clean(sc.c[1]),
            "xi_true": _clean([sc.length(0)])[0],
            "xi_pred": _clean([sc.length(1)])[0],
        }

        if runs is not None:
            masks = []
            for k in range(n_cfg):
                masks.append(p.species[p.config_index == k] == s)
            if any(r.shape[2] != len(mk) for r, mk in zip(runs, masks, strict=True)):
                out["notes"].append("ceiling: per-run data do not match the particles")
            else:
                out["ceiling"][name] = ceiling_from_runs(runs, masks, **ceiling).to_dict()
    if runs is None:
        out["notes"].append("ceiling: the files hold no per-run displacements (md_prop_runs)")
    return out
