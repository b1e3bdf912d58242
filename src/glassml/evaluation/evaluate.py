"""`evaluate`: run a trained checkpoint on a dataset split and write predictions, metrics, plots.

The checkpoint carries the resolved training config and the data standardisation, so
the model is rebuilt exactly; the dataset can be the training one (default) or any
other dataset config (transfer between temperatures, GlassBench, ...). Before any
prediction the data are checked against what the model was trained on (species set,
dimension, target, time grid), because a mismatch otherwise yields plausible-looking
but meaningless numbers.
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
from glassml.data.io import DatasetError
from glassml.evaluation.analysis import Predictions, analyse, load_runs, metric_options
from glassml.evaluation.baselines import local_density_baseline
from glassml.evaluation.markdown import render_report
from glassml.evaluation.plots import plot_chi4, plot_pearson_overview, plot_spatial
from glassml.evaluation.report import format_table, plot_configuration, report_dict, write_json
from glassml.evaluation.stored import stored_pearson
from glassml.io import atomic_save_npz, atomic_write_text
from glassml.training.checkpoint import CheckpointError, load_checkpoint_file
from glassml.training.metrics import SpeciesPearson
from glassml.training.module import PropensityModule

log = logging.getLogger(__name__)

#: Relative tolerance when comparing time grids in units of the time at tau_alpha.
TIME_GRID_RTOL = 0.05

#: Dataset keys that define the model's inputs and outputs: always taken from the
#: training config, whatever dataset the checkpoint is evaluated on.
MODEL_INPUT_KEYS = ("positions", "target", "cutoff", "self_loops", "node_features")


class IncompatibleDataError(DatasetError):
    """The evaluation data do not match what the checkpoint was trained on."""


def load_checkpoint(
    path: str | Path, trust: bool = False
) -> tuple[dict[str, Any], DictConfig, DataInfo]:
    """Checkpoint dict, its training config and data info; clear error if not ours.

    Loaded with the weights-only unpickler (training/checkpoint.py) unless `trust`.
    """
    path = Path(path)
    ckpt = load_checkpoint_file(path, trust=trust)
    meta = ckpt.get("glassml")
    if not isinstance(meta, dict) or not meta.get("config"):
        raise CheckpointError(f"{path} is not a glassml-train checkpoint (no 'glassml' entry)")
    return ckpt, OmegaConf.create(meta["config"]), DataInfo.from_dict(meta["data_info"])


def check_compatible(model: DataInfo, data: DataInfo, check_time_grid: bool = True) -> None:
    """Raise `IncompatibleDataError` when `data` cannot be scored with a `model` checkpoint.

    Species sets, dimension and target must agree. Time grids are compared in units of
    the time at tau_alpha (so transfer between temperatures of one protocol passes);
    files without stored times cannot be compared and pass.
    """
    if data.dim != model.dim:
        raise IncompatibleDataError(
            f"the model was trained in {model.dim}D, the dataset is {data.dim}D"
        )
    if data.num_species != model.num_species:
        raise IncompatibleDataError(
            f"the checkpoint was trained on species {model.species_names[: model.num_species]}"
            f" but the evaluation data hold species {data.species_names[: data.num_species]}"
            " (dataset.num_species / the files' 'types'); evaluate on data of the same mixture"
        )
    if data.target != model.target:
        raise IncompatibleDataError(
            f"the checkpoint predicts '{model.target}' but dataset.target='{data.target}'"
        )
    if check_time_grid and model.times is not None and data.times is not None:
        tm = np.asarray(model.times) / model.times[model.tau_position]
        td = np.asarray(data.times) / data.times[data.tau_position]
        if tm.shape != td.shape or not np.allclose(tm, td, rtol=TIME_GRID_RTOL):
            raise IncompatibleDataError(
                f"time grids differ: the checkpoint was trained on t/t_tau = "
                f"{np.round(tm, 4).tolist()} (time indices {model.time_indices}), the "
                f"evaluation data have {np.round(td, 4).tolist()}; pick data with the same "
                "output times, or set check_time_grid=false to score anyway"
            )


def build_datamodule(
    dataset_cfg: DictConfig,
    info: DataInfo,
    batch_size: int,
    check_time_grid: bool = True,
    train_dataset_cfg: DictConfig | None = None,
) -> GlassDataModule:
    """Data module for evaluation: the model's inputs (positions, graph, descriptors),
    time scales and standardisation from the checkpoint, no augmentation."""
    ds = OmegaConf.create(OmegaConf.to_container(dataset_cfg, resolve=True))
    with open_dict(ds):
        if train_dataset_cfg is not None:
            for key in MODEL_INPUT_KEYS:
                if key in train_dataset_cfg:
                    ds[key] = OmegaConf.to_container(train_dataset_cfg, resolve=True)[key]
        if getattr(info, "num_node_features", 0):
            ds.feature_stats = {
                "mean": list(info.node_feature_mean),
                "std": list(info.node_feature_std),
            }
        ds.time_indices = list(info.time_indices)
        # the species count comes from the data, so that a mismatch is detected below
        ds.num_species = None
        ds.target_stats = {"mean": list(info.target_mean), "std": list(info.target_std)}
        ds.augmentation = None
        ds.eval_batch_size = batch_size
    dm: GlassDataModule = instantiate(ds)
    try:
        dm.setup()
    except DatasetError as exc:
        if "time_indices" in str(exc):
            raise IncompatibleDataError(
                f"the checkpoint was trained on time indices {info.time_indices}, which the "
                f"evaluation data ({dm.root}) do not have: {exc}"
            ) from exc
        raise
    assert dm.info is not None
    check_compatible(info, dm.info, check_time_grid)
    return dm


def load_module(ckpt: dict[str, Any], run_cfg: DictConfig, info: DataInfo, device: str):
    """The trained `PropensityModule` in eval mode on `device`."""
    module: PropensityModule = instantiate(run_cfg.model, data_info=info)
    module.load_state_dict(ckpt["state_dict"])
    return module.to(device).eval()


def log_left_out(species: list[int], info: DataInfo, what: str = "not scored") -> list[str]:
    """One log line naming the species no loss trained and what happens to them (`what`,
    e.g. "not scored"); returns their names."""
    left = info.species_left_out(species)
    if left:
        log.info(
            "species %s %s: no loss trained them (dataset.train_species=%s in the "
            "checkpoint's config); train with dataset.train_species=all to include them",
            ", ".join(left),
            what,
            [info.species_names[s] for s in species],
        )
    return left


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def predict(
    module: PropensityModule, dm: GlassDataModule, split: str, device: str
) -> tuple[Predictions, dict]:
    """Physical-unit predictions and targets of a split (every particle), and the streaming
    Pearson scores of the species the module was trained on."""
    assert dm.info is not None
    info = module.info
    metric = SpeciesPearson(info.trained_species, info.num_targets)
    preds, truths, kinds, cfg_index, positions = [], [], [], [], []
    with torch.no_grad():
        for batch in dm._loader(split, shuffle=False):
            batch = batch.to(device)
            p = module.predict_physical(batch).cpu().double()
            y = (batch.y * module.target_std + module.target_mean).cpu().double()
            metric.update(p, y, batch.species.cpu(), batch.batch.cpu())
            preds.append(p.numpy())
            truths.append(y.numpy())
            kinds.append(batch.species.cpu().numpy())
            cfg_index.append(batch.config_index.cpu().numpy()[batch.batch.cpu().numpy()])
            positions.append(batch.pos.cpu().numpy())
    scores = {k: v.double().numpy() for k, v in metric.compute().items()}
    boxes = np.stack([r["box"].double().numpy() for r in dm.raw[split]])
    out = Predictions(
        np.concatenate(preds),
        np.concatenate(truths),
        np.concatenate(kinds),
        np.concatenate(cfg_index),
        np.concatenate(positions),
        boxes,
    )
    return out, scores


def chi4_definition(opts: DictConfig | dict) -> str:
    if opts.get("mobility") == "linear":
        return "chi4(t) = N_s Var_c[Q_c(t)], Q_c = mean propensity of configuration c (linear)"
    if opts.get("threshold") is not None:
        rule = f"propensity below the fixed threshold a = {opts['threshold']}"
    else:
        rule = (
            f"propensity below the {opts.get('quantile')} quantile of all test propensities "
            "at that time (true and predicted each with their own quantile)"
        )
    if opts.get("sharpness") is not None:
        k = opts["sharpness"]
        rule += f", soft: weight (1 - tanh({k} (p - a))) / 2"
    return (
        "chi4(t) = N_s Var_c[Q_c(t)], Q_c = fraction of immobile particles of configuration c"
        f" (immobile: {rule})"
    )


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Predict the chosen split, score it, write files into the run dir.

    Outputs: `predictions.npz` (per particle: prediction, target, species, configuration,
    position; per configuration: file and box), `metrics.json` (Pearson with bootstrap
    CIs, baseline, ceiling, chi4, spatial correlation), `report.md`, and the plots
    `pearson_vs_time.png`, `chi4.png`, `spatial_correlation.png` and
    `config_<k>_t<idx>.png` (predicted vs true maps of one configuration).
    """
    if cfg.get("ckpt_path") is None:
        raise ValueError("ckpt_path is required: glassml-evaluate ckpt_path=.../best.ckpt")
    pl.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt, run_cfg, info = load_checkpoint(cfg.ckpt_path, bool(cfg.get("trust_checkpoint")))
    dataset_cfg = cfg.dataset if cfg.get("dataset") is not None else run_cfg.dataset
    dm = build_datamodule(dataset_cfg, info, cfg.batch_size, cfg.check_time_grid, run_cfg.dataset)
    split = cfg.split
    if split not in dm.datasets or len(dm.datasets[split]) == 0:
        raise ValueError(f"the dataset has no '{split}' configurations")
    log.info(dm.describe())

    species = info.trained_species
    left_out = log_left_out(species, info)
    module = load_module(ckpt, run_cfg, info, resolve_device(cfg.device))
    pred, scores = predict(module, dm, split, resolve_device(cfg.device))
    baseline = None
    if cfg.get("baseline_radius"):
        baseline = local_density_baseline(
            dm.raw["train"],
            dm.raw_targets("train"),
            dm.raw[split],
            dm.raw_targets(split),
            info.num_species,
            cfg.baseline_radius,
            species=species,
        )
    files = [str(p) for p in dm.files[split]]
    report = report_dict(
        info,
        scores,
        baseline,
        n_configs=len(files),
        split=split,
        species=species,
        extra={
            "species_not_scored": left_out,
            "checkpoint": str(Path(cfg.ckpt_path).resolve()),
            "dataset": dm.name,
            "temperature": dm.temperature,
            "trained_on": run_cfg.dataset.get("name"),
        },
    )
    m = cfg.metrics
    runs = load_runs(files, info.target, info.time_indices) if m.ceiling.enabled else None
    spatial_pos = None
    if m.spatial.time_index is not None:
        if int(m.spatial.time_index) not in info.time_indices:
            raise ValueError(
                f"metrics.spatial.time_index={m.spatial.time_index} is not among the "
                f"model's time indices {info.time_indices}"
            )
        spatial_pos = info.time_indices.index(int(m.spatial.time_index))
    extra = analyse(
        pred,
        info.species_names,
        info.tau_position,
        runs=runs,
        **metric_options(m),
        ceiling={"n_splits": m.ceiling.n_splits, "seed": m.ceiling.seed},
        spatial_position=spatial_pos,
        species=species,
    )
    if left_out:
        extra["notes"].append(
            f"species {', '.join(left_out)} not scored: no loss trained them "
            "(train with dataset.train_species=all to score every species)"
        )
    if not m.ceiling.enabled:
        extra["notes"] = [n for n in extra["notes"] if not n.startswith("ceiling")]
    if info.times is None or dm.info.times is None:
        extra["notes"].append("time grids not compared: the files store no times")
    report.update(extra)
    report["chi4_definition"] = chi4_definition(m.chi4)
    if cfg.published_overlay:  # the published models' predictions stored in the test files
        n_times = int(dm.raw[split][0]["target"].shape[0])
        stored = stored_pearson(
            files, pred, n_times, info.time_indices, info.species_names, species=species
        )
        if stored:
            report["published_from_files"] = stored
    write_json(out_dir / "metrics.json", report)

    atomic_save_npz(
        out_dir / "predictions.npz",
        predictions=pred.pred.astype(np.float32),
        targets=pred.truth.astype(np.float32),
        species=pred.species.astype(np.int8),
        config_index=pred.config_index.astype(np.int32),
        positions=pred.positions.astype(np.float32),
        box=pred.boxes,
        files=np.asarray(files),
        time_indices=np.asarray(info.time_indices),
        times=np.asarray(info.times if info.times is not None else [], dtype=np.float64),
        target=np.str_(info.target),
    )
    images = write_plots(cfg, report, pred, info, files, out_dir, species)
    atomic_write_text(out_dir / "report.md", render_report(report, images))
    print(format_table(report), flush=True)
    log.info("evaluation written to %s", out_dir)
    return report


def write_plots(
    cfg: DictConfig,
    report: dict[str, Any],
    pred: Predictions,
    info: DataInfo,
    files: list[str],
    out_dir: Path,
    species: list[int],
) -> list[str]:
    """All PNGs of one evaluation (the scored `species` only); returns their file names."""
    names = ["pearson_vs_time.png"]
    plot_pearson_overview(
        report,
        out_dir / names[0],
        species=info.species_names[species[0]],
        published=bool(cfg.published_overlay),
    )
    if report.get("chi4"):
        names.append("chi4.png")
        plot_chi4(report, out_dir / "chi4.png")
    names.append("spatial_correlation.png")
    plot_spatial(report, out_dir / "spatial_correlation.png")

    k = int(cfg.plot_config)
    if not 0 <= k < len(files):
        raise ValueError(
            f"plot_config={k} but the {cfg.split} split has {len(files)} configurations"
        )
    t_pos = info.tau_position
    if cfg.get("plot_time_index") is not None:
        if int(cfg.plot_time_index) not in info.time_indices:
            raise ValueError(
                f"plot_time_index={cfg.plot_time_index} is not among the model's time "
                f"indices {info.time_indices}"
            )
        t_pos = info.time_indices.index(int(cfg.plot_time_index))
    m = (pred.config_index == k) & np.isin(pred.species, species)
    t_idx = info.time_indices[t_pos]
    when = f"t = {info.times[t_pos]:.4g}" if info.times is not None else f"time index {t_idx}"
    name = f"config_{k}_t{t_idx:02d}.png"
    plot_configuration(
        pred.positions[m],
        pred.boxes[k],
        pred.species[m],
        pred.truth[m, t_pos],
        pred.pred[m, t_pos],
        out_dir / name,
        title=f"{Path(files[k]).name}, {when}",
        species_names=info.species_names,
    )
    names.append(name)
    return names
