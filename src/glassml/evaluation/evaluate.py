"""`evaluate`: run a trained checkpoint on a dataset split and write predictions, metrics, plots.

The checkpoint carries the resolved training config and the data standardisation, so
the model is rebuilt exactly; the dataset can be the training one (default) or any
other dataset config (transfer between temperatures, GlassBench, ...).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from glassml.data.datamodule import DataInfo, GlassDataModule
from glassml.evaluation.baselines import local_density_baseline
from glassml.evaluation.report import (
    format_table,
    plot_configuration,
    plot_pearson_vs_time,
    report_dict,
    write_json,
)
from glassml.io import atomic_save_npz
from glassml.training.metrics import SpeciesPearson
from glassml.training.module import PropensityModule

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], DictConfig, DataInfo]:
    """Checkpoint dict, its training config and data info; clear error if not ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    # Lightning checkpoints hold optimizer and callback state that `weights_only` rejects;
    # they are files glassml-train wrote, so full unpickling is acceptable here.
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    meta = ckpt.get("glassml") if isinstance(ckpt, dict) else None
    if not meta or not meta.get("config"):
        raise ValueError(f"{path} is not a glassml-train checkpoint (no 'glassml' entry)")
    return ckpt, OmegaConf.create(meta["config"]), DataInfo.from_dict(meta["data_info"])


def build_datamodule(dataset_cfg: DictConfig, info: DataInfo, batch_size: int) -> GlassDataModule:
    """Data module for evaluation: the model's time scales and standardisation, no augmentation."""
    ds = OmegaConf.create(OmegaConf.to_container(dataset_cfg, resolve=True))
    with open_dict(ds):
        ds.time_indices = list(info.time_indices)
        ds.num_species = info.num_species
        ds.target_stats = {"mean": list(info.target_mean), "std": list(info.target_std)}
        ds.augmentation = None
        ds.eval_batch_size = batch_size
    dm: GlassDataModule = instantiate(ds)
    dm.setup()
    assert dm.info is not None
    if dm.info.dim != info.dim:
        raise ValueError(f"the model was trained in {info.dim}D, the dataset is {dm.info.dim}D")
    return dm


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Predict the chosen split, score it against the baseline, write files into the run dir.

    Outputs: `predictions.npz` (per particle: prediction, target, species, configuration,
    position; per configuration: file and box), `metrics.json`, `pearson_vs_time.png`
    and `config_<k>_t<idx>.png` (scatter and spatial maps of one configuration).
    """
    pl.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt, run_cfg, info = load_checkpoint(cfg.ckpt_path)
    dataset_cfg = cfg.dataset if cfg.get("dataset") is not None else run_cfg.dataset
    dm = build_datamodule(dataset_cfg, info, cfg.batch_size)
    split = cfg.split
    if split not in dm.datasets or len(dm.datasets[split]) == 0:
        raise ValueError(f"the dataset has no '{split}' configurations")
    log.info(dm.describe())

    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    module: PropensityModule = instantiate(run_cfg.model, data_info=info)
    module.load_state_dict(ckpt["state_dict"])
    module.to(device).eval()

    loader = dm._loader(split, shuffle=False)
    metric = SpeciesPearson(list(range(info.num_species)), info.num_targets)
    preds, truths, species, cfg_index, positions = [], [], [], [], []
    with torch.no_grad():
        for batch in loader:
            batch = batch.to(device)
            p = module.predict_physical(batch).cpu().double()
            y = (batch.y * module.target_std + module.target_mean).cpu().double()
            metric.update(p, y, batch.species.cpu(), batch.batch.cpu())
            preds.append(p.numpy())
            truths.append(y.numpy())
            species.append(batch.species.cpu().numpy())
            cfg_index.append(batch.config_index.cpu().numpy()[batch.batch.cpu().numpy()])
            positions.append(batch.pos.cpu().numpy())
    scores = {k: v.double().numpy() for k, v in metric.compute().items()}
    baseline = None
    if cfg.get("baseline_radius"):
        baseline = local_density_baseline(
            dm.raw["train"],
            dm.raw_targets("train"),
            dm.raw[split],
            dm.raw_targets(split),
            info.num_species,
            cfg.baseline_radius,
        )
    files = [str(p) for p in dm.files[split]]
    report = report_dict(
        info,
        scores,
        baseline,
        n_configs=len(files),
        split=split,
        extra={"checkpoint": str(Path(cfg.ckpt_path).resolve()), "dataset": dm.name},
    )
    write_json(out_dir / "metrics.json", report)

    pred = np.concatenate(preds)
    truth = np.concatenate(truths)
    spec = np.concatenate(species)
    cidx = np.concatenate(cfg_index)
    pos = np.concatenate(positions)
    boxes = np.stack([r["box"].numpy() for r in dm.raw[split]])
    atomic_save_npz(
        out_dir / "predictions.npz",
        predictions=pred.astype(np.float32),
        targets=truth.astype(np.float32),
        species=spec.astype(np.int8),
        config_index=cidx.astype(np.int32),
        positions=pos.astype(np.float32),
        box=boxes,
        files=np.asarray(files),
        time_indices=np.asarray(info.time_indices),
        times=np.asarray(info.times if info.times is not None else [], dtype=np.float64),
        target=np.str_(info.target),
    )

    plot_pearson_vs_time(report, out_dir / "pearson_vs_time.png")
    k = int(cfg.plot_config)
    if not 0 <= k < len(files):
        raise ValueError(f"plot_config={k} but the {split} split has {len(files)} configurations")
    t_pos = info.tau_position
    if cfg.get("plot_time_index") is not None:
        if int(cfg.plot_time_index) not in info.time_indices:
            raise ValueError(
                f"plot_time_index={cfg.plot_time_index} is not among the model's time "
                f"indices {info.time_indices}"
            )
        t_pos = info.time_indices.index(int(cfg.plot_time_index))
    m = cidx == k
    t_idx = info.time_indices[t_pos]
    when = f"t = {info.times[t_pos]:.4g}" if info.times is not None else f"time index {t_idx}"
    plot_configuration(
        pos[m],
        boxes[k],
        spec[m],
        truth[m, t_pos],
        pred[m, t_pos],
        out_dir / f"config_{k}_t{t_idx:02d}.png",
        title=f"{Path(files[k]).name}, {when}",
        species_names=info.species_names,
    )
    print(format_table(report), flush=True)
    log.info("evaluation written to %s", out_dir)
    return report
