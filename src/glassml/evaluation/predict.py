"""`glassml-predict`: a trained model's propensity for any configuration.

Inputs: our `.npz` and GlassBench `.npz` files, extended XYZ, LAMMPS data and dump files,
GSD (one frame per file, `frame`). The model is rebuilt from its checkpoint (loaded as data,
training/checkpoint.py) and sees the configuration exactly as in training: same positions
kind, neighbour graph and standardised descriptors. Each input gives, in the run folder:
- `<name>.extxyz`: positions and cell with per-particle columns `type` (species index,
  0 = A), `pred_tXX` (one per time scale, XX = index in the training time grid) and
  `true_tXX` when the input holds the target; OVITO and ASE read it directly;
- `<name>.npz`: the same arrays;
- `<name>.png`: the map that glassml-evaluate draws (predicted, and true when known).
Particles of a species no loss trained (not in the run's `dataset.train_species`) get NaN:
their output head was never fitted, so it predicts nothing.
Inputs that differ from the training data in dimension or species set are refused, a
different time grid too (unless check_time_grid=false), as glassml-evaluate does; another
density or temperature than in training is warned about (transfer).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from glassml.data.datamodule import DataInfo, GlassDataModule
from glassml.data.io import SPECIES_NAMES, Configuration, DatasetError, NpzReader
from glassml.data.trajectory import SUFFIXES, TrajectoryError, detect_format, read_frames
from glassml.evaluation.evaluate import (
    IncompatibleDataError,
    check_compatible,
    load_checkpoint,
    load_module,
    log_left_out,
    resolve_device,
)
from glassml.evaluation.report import plot_configuration, save_figure
from glassml.io import atomic_path, atomic_save_npz

log = logging.getLogger(__name__)

#: relative difference of density or temperature above which a transfer is reported
STATE_RTOL = 0.01


def input_files(path: str | Path, pattern: str) -> list[Path]:
    """The file itself, or the readable files of a folder (natural order)."""
    from glassml.data.importer import natural_key

    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"input={path}: no such file or folder")
    known = (*SUFFIXES, ".npz")
    files = [p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in known]
    if not files:
        raise DatasetError(
            f"input={path}: no files matching '{pattern}' with a known suffix ({known})"
        )
    return sorted(files, key=natural_key)


def read_configuration(path: Path, cfg: DictConfig, run_cfg: DictConfig) -> Configuration:
    """Any supported file as a `Configuration` (species by `cfg.types` for MD formats)."""
    fmt = cfg.get("format", "auto")
    if fmt == "npz" or (fmt == "auto" and path.suffix.lower() == ".npz"):
        return npz_reader(cfg, run_cfg)(path)
    frames = read_frames(path, detect_format(path, fmt), int(cfg.dim or 3))
    k = int(cfg.frame)
    if not -len(frames) <= k < len(frames):
        raise TrajectoryError(f"{path}: frame={k} but the file has {len(frames)} frames")
    frame = frames[k]
    table = {str(a): int(b) for a, b in (cfg.types or {}).items()}
    unknown = sorted(set(frame.labels.tolist()) - set(table))
    if unknown:
        raise TrajectoryError(
            f"{path}: particle type(s) {unknown} are not in types {table}; map them, e.g. "
            f"+types.{unknown[0]}=<species index>"
        )
    box = frame.box
    metadata: dict[str, Any] = {}
    if cfg.get("temperature") is not None:
        metadata["temperature"] = float(cfg.temperature)
    return Configuration(
        source=str(path),
        types=np.asarray([table[s] for s in frame.labels], dtype=np.int64),
        positions={"equilibrium": np.mod(frame.positions, box)},
        box=box,
        targets={},
        times=None,
        metadata=metadata,
    )


def npz_reader(cfg: DictConfig, run_cfg: DictConfig) -> NpzReader:
    """The training dataset's .npz reader (its defaults for files without box, times or
    temperature, as GlassBench's), with box/density/temperature given here winning."""
    from hydra.utils import instantiate

    reader_cfg = run_cfg.dataset.get("reader")
    reader = NpzReader()
    if reader_cfg is not None and str(reader_cfg.get("_target_", "")).endswith("NpzReader"):
        reader = instantiate(reader_cfg)
    for key in ("box", "density", "temperature"):
        value = cfg.get(key)
        if value is not None:
            setattr(
                reader, key, OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
            )
    return reader


def training_state(run_cfg: DictConfig) -> dict[str, float]:
    """Temperature and density of the training data, from its config or its first file."""
    ds = run_cfg.dataset
    out: dict[str, float] = {}
    if ds.get("temperature") is not None:
        out["temperature"] = float(ds.temperature)
    reader = ds.get("reader") or {}
    if reader.get("density") is not None:
        out["density"] = float(reader.density)
    if len(out) < 2 and ds.get("root") and ds.get("train_glob"):
        from glassml.data.io import list_files

        root = Path(str(ds.root))
        files = list_files(root, str(ds.train_glob)) if root.is_dir() else []
        if files:
            try:
                conf = NpzReader(box=reader.get("box"), density=reader.get("density"))(files[0])
            except DatasetError:
                return out
            out.setdefault("density", conf.n_particles / float(np.prod(conf.box)))
            if conf.metadata.get("temperature") is not None:
                out.setdefault("temperature", float(conf.metadata["temperature"]))
    return out


def check_transfer(info: DataInfo, conf: Configuration, train: dict[str, float], cfg) -> None:
    """Refuse what evaluate refuses (dimension, unknown species, time grid); warn when the
    density or temperature differ from training, or some trained species are absent."""
    present = int(conf.types.max()) + 1
    if present > info.num_species:
        raise IncompatibleDataError(
            f"{conf.source}: holds species up to {SPECIES_NAMES[present - 1]} but the "
            f"checkpoint was trained on {info.species_names[: info.num_species]}; map the "
            "particle types onto those species (types=...)"
        )
    times = None
    if conf.times is not None and max(info.time_indices) < len(conf.times):
        times = [float(conf.times[t]) for t in info.time_indices]
    data = DataInfo(
        dim=conf.dim,
        num_species=info.num_species,
        time_indices=list(info.time_indices),
        times=times,
        tau_position=info.tau_position,
        target_mean=[],
        target_std=[],
        train_species=info.train_species,
        target=info.target,
    )
    try:
        check_compatible(info, data, bool(cfg.check_time_grid))
    except IncompatibleDataError as exc:
        raise IncompatibleDataError(f"{conf.source}: {exc}") from None
    missing = sorted(set(range(info.num_species)) - set(np.unique(conf.types).tolist()))
    if missing:
        log.warning(
            "%s holds no particles of species %s, which the model was trained with",
            conf.source,
            [info.species_names[s] for s in missing],
        )
    density = conf.n_particles / float(np.prod(conf.box))
    here = {"density": density, "temperature": conf.metadata.get("temperature")}
    for key, value in here.items():
        ref = train.get(key)
        if value is not None and ref is not None and abs(value / ref - 1) > STATE_RTOL:
            log.warning(
                "%s: %s %.4g differs from the training data's %.4g: a transfer, the "
                "predictions are extrapolations",
                conf.source,
                key,
                value,
                ref,
            )


def plot_prediction(
    conf: Configuration,
    pred: np.ndarray,
    truth: np.ndarray | None,
    info: DataInfo,
    path: Path,
    shown: np.ndarray,
) -> None:
    """The map of glassml-evaluate (scatter and slab maps) when the truth is known; the
    predicted slab map alone otherwise. Only the particles in ``shown`` (trained species)."""
    t = info.tau_position
    when = f"t = {info.times[t]:.4g}" if info.times is not None else f"index {info.time_indices[t]}"
    pos = conf.positions["equilibrium"][shown]
    pred = pred[shown]
    title = f"{Path(conf.source).name}, {when}"
    if truth is not None:
        plot_configuration(
            pos,
            conf.box,
            conf.types[shown],
            truth[shown, t],
            pred[:, t],
            path,
            title,
            species_names=info.species_names,
        )
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    if pos.shape[1] == 3:
        zc = conf.box[2] / 2
        sel = np.abs(pos[:, 2] - zc) < 1.0
        where = f"slab |z - {zc:.2f}| < 1"
    else:
        sel = np.ones(len(pos), dtype=bool)
        where = "whole box"
    vmin, vmax = np.percentile(pred[:, t], [2, 98])
    sc = ax.scatter(
        pos[sel, 0], pos[sel, 1], c=pred[sel, t], s=18, cmap="coolwarm", vmin=vmin, vmax=vmax
    )
    ax.set_aspect("equal")
    ax.set_xlim(0, conf.box[0])
    ax.set_ylim(0, conf.box[1])
    ax.set_title(f"predicted ({where})\n{title}")
    fig.colorbar(sc, ax=ax, shrink=0.8)
    save_figure(fig, path)
    plt.close(fig)


def write_extxyz(
    path: Path,
    conf: Configuration,
    pred: np.ndarray,
    truth: np.ndarray | None,
    info: DataInfo,
    extra: dict[str, Any],
) -> None:
    """Extended XYZ with the per-particle columns, written by ASE (atomically)."""
    import ase
    import ase.io

    pos = conf.positions["equilibrium"]
    if pos.shape[1] == 2:  # ASE atoms are 3D: a flat z and a non-periodic third axis
        pos = np.column_stack([pos, np.zeros(len(pos))])
        cell, pbc = [*conf.box, 0.0], [True, True, False]
    else:
        cell, pbc = list(conf.box), True
    atoms = ase.Atoms(symbols=["X"] * conf.n_particles, positions=pos, cell=cell, pbc=pbc)
    atoms.new_array("type", conf.types.astype(np.int64))
    for k in range(info.num_targets):
        label = info.time_label(k)
        atoms.new_array(f"pred_{label}", pred[:, k].astype(np.float64))
        if truth is not None:
            atoms.new_array(f"true_{label}", truth[:, k].astype(np.float64))
    atoms.info.update(extra)
    with atomic_path(path) as tmp:
        ase.io.write(tmp, atoms, format="extxyz")


def predict_files(cfg: DictConfig) -> list[Path]:
    """Predict every input (see the module docstring); returns the extxyz files written."""
    if cfg.get("ckpt_path") is None or cfg.get("input") is None:
        raise ValueError("glassml-predict needs ckpt_path=<checkpoint> and input=<file|folder>")
    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt, run_cfg, info = load_checkpoint(cfg.ckpt_path, bool(cfg.trust_checkpoint))
    files = input_files(cfg.input, str(cfg.pattern))
    device = resolve_device(cfg.device)
    module = load_module(ckpt, run_cfg, info, device)
    dm = model_inputs(run_cfg, info)
    train = training_state(run_cfg)
    written = []
    from torch_geometric.data import Batch

    trained = info.trained_species
    log_left_out(trained, info, "written as NaN")
    stems = [p.stem for p in files]
    for path in files:
        conf = read_configuration(path, cfg, run_cfg)
        check_transfer(info, conf, train, cfg)
        graph = dm.graph_of(conf, path)
        with torch.no_grad():
            batch = Batch.from_data_list([graph]).to(device)
            pred = module.predict_physical(batch).cpu().double().numpy()
        shown = np.isin(conf.types, trained)
        pred[~shown] = np.nan
        truth = None
        if info.target in conf.targets:
            truth = conf.targets[info.target][info.time_indices].T
        unique = stems.count(path.stem) == 1
        stem = out_dir / (path.stem if unique else path.name.replace(".", "_"))
        extra = {
            "source": str(path),
            "checkpoint": str(Path(cfg.ckpt_path).resolve()),
            "target": info.target,
            "time_indices": " ".join(str(t) for t in info.time_indices),
        }
        if info.times is not None:
            extra["times"] = " ".join(f"{t:.6g}" for t in info.times)
        write_extxyz(stem.with_suffix(".extxyz"), conf, pred, truth, info, extra)
        atomic_save_npz(
            stem.with_suffix(".npz"),
            predictions=pred.astype(np.float32),
            targets=np.asarray([] if truth is None else truth, dtype=np.float32),
            species=conf.types.astype(np.int8),
            positions=conf.positions["equilibrium"].astype(np.float32),
            box=conf.box,
            time_indices=np.asarray(info.time_indices),
            times=np.asarray(info.times if info.times is not None else [], dtype=np.float64),
            target=np.str_(info.target),
            source=np.str_(str(path)),
        )
        if cfg.plot:
            plot_prediction(conf, pred, truth, info, stem.with_suffix(".png"), shown)
        log.info("%s -> %s", path, stem.with_suffix(".extxyz"))
        written.append(stem.with_suffix(".extxyz"))
    return written


def model_inputs(run_cfg: DictConfig, info: DataInfo) -> GlassDataModule:
    """A data module configured as in training (positions, graph, descriptors), holding the
    checkpoint's data info: it turns configurations into model inputs (graph_of)."""
    ds = OmegaConf.to_container(run_cfg.dataset, resolve=True)
    assert isinstance(ds, dict)
    dm = GlassDataModule(
        root=".",
        positions=info.positions,
        target=info.target,
        time_indices=list(info.time_indices),
        cutoff=float(ds.get("cutoff", 2.0)),
        self_loops=bool(ds.get("self_loops", True)),
        node_features=ds.get("node_features") or [],
        num_species=info.num_species,
    )
    dm.info = info
    return dm
