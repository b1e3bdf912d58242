"""Lightning data module: files -> periodic graphs (cached on disk) -> train/val/test loaders.

One `GlassDataModule` serves every dataset config (sample, generated, GlassBench, Bapst):
what differs between them is the reader, the file globs and how the splits are made,
and all of that is configuration.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from glassml.data.graph import periodic_edges
from glassml.data.io import (
    POSITION_KEYS,
    SPECIES_NAMES,
    Configuration,
    DatasetError,
    NpzReader,
    Reader,
    list_files,
    npz_keys,
)
from glassml.features import compute_descriptors, file_descriptors, parse_specs
from glassml.io import atomic_path

log = logging.getLogger(__name__)

#: Bump when the cached graph layout changes, so old caches are never read.
CACHE_VERSION = 2

SPLITS = ("train", "val", "test")


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset directory or its files do not exist."""


@dataclass
class DataInfo:
    """What a model and its metrics need to know about the data; stored in checkpoints."""

    dim: int
    num_species: int
    time_indices: list[int]
    times: list[float] | None
    tau_position: int
    target_mean: list[float]
    target_std: list[float]
    train_species: list[int]
    target: str = "md_prop"
    positions: str = "equilibrium"
    species_names: list[str] = field(default_factory=lambda: list(SPECIES_NAMES))
    # expert descriptors (dataset.node_features): count, names, training-split statistics
    num_node_features: int = 0
    node_feature_names: list[str] = field(default_factory=list)
    node_feature_mean: list[float] = field(default_factory=list)
    node_feature_std: list[float] = field(default_factory=list)
    # Bapst et al. rows: the intermediate-scattering level that defines each time
    is_values: list[float] | None = None
    # std [T] of the raw training targets of every species (row s; empty for a species not
    # trained, and no rows when unknown, e.g. evaluation with stored statistics): GlassMLP's
    # loss divides each species' absolute error by its own, as its authors do
    species_target_std: list[list[float]] = field(default_factory=list)

    @property
    def num_targets(self) -> int:
        return len(self.time_indices)

    @property
    def trained_species(self) -> list[int]:
        """The species a loss fits, sorted, once each: the only outputs worth scoring."""
        return sorted(set(self.train_species))

    def species_left_out(self, species: list[int]) -> list[str]:
        """Names of the species not in ``species`` (e.g. those no loss trains)."""
        return [self.species_names[s] for s in range(self.num_species) if s not in species]

    def time_label(self, k: int) -> str:
        """Stable metric-name label for the k-th selected target: its index in the file."""
        return f"t{self.time_indices[k]:02d}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> DataInfo:
        """From a dict or a DictConfig (Hydra's instantiate turns dataclass args into one)."""
        if isinstance(d, DictConfig):
            d = OmegaConf.to_container(d, resolve=True)
        return cls(**d)


class GraphDataset(Dataset):
    """A list of PyG graphs, with an optional per-access transform (augmentation)."""

    def __init__(self, graphs: list[Data], transform: Callable[[Data], Data] | None = None):
        self.graphs = graphs
        self.transform = transform

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, idx: int) -> Data:
        g = self.graphs[idx]
        return self.transform(g) if self.transform is not None else g


class GlassDataModule(pl.LightningDataModule):
    """Periodic-graph datasets of propensity, split into train/val/test.

    Splits: when `test_glob` is given (GlassBench: `test/*.npz`, Bapst: `test/aggregated*`)
    its files are the test set and `train_glob` the training pool; otherwise a fraction
    `test_fraction` of the `train_glob` files is held out with `split_seed`. Validation
    is always carved from the training pool with the same seed, so it never overlaps test.

    Targets are the selected time indices of `target`, standardised per time scale with
    the mean and std of the training split over the `train_species` particles (or with
    `target_stats`, when evaluating a trained model on other data); with
    `standardize_targets=False` they stay raw (mean 0, std 1 recorded), as Bapst et al.
    trained. `train_species="all"` trains on every species in the files. `potential` is the
    system's pair potential (simulator config name or {epsilon, sigma, cutoff}) for the
    energy descriptors of files that store no simulator config (GlassBench); descriptor
    specs with `potential: null` take it.
    """

    def __init__(
        self,
        root: str,
        name: str = "dataset",
        temperature: float | None = None,
        reader: Reader | None = None,
        train_glob: str = "config_*.npz",
        test_glob: str | None = None,
        test_fraction: float = 0.25,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        limit_train: int | None = None,
        limit_test: int | None = None,
        positions: str = "equilibrium",
        target: str = "md_prop",
        time_indices: Sequence[int | str] | None = None,
        tau_alpha_index: int | None = None,
        train_species: Sequence[int] | str = (0,),
        num_species: int | None = None,
        cutoff: float = 2.0,
        self_loops: bool = True,
        augmentation: Callable[[Data], Data] | None = None,
        batch_size: int = 1,
        eval_batch_size: int | None = None,
        shuffle: bool = True,
        num_workers: int = 0,
        pin_memory: bool = False,
        keep_on_device: bool | str = "auto",
        cache_dir: str | None = None,
        missing_hint: str = "",
        target_stats: dict[str, Sequence[float]] | None = None,
        standardize_targets: bool = True,
        node_features: Sequence[Any] | None = None,
        feature_stats: dict[str, Sequence[float]] | None = None,
        potential: str | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if positions not in POSITION_KEYS:
            raise ValueError(f"dataset.positions must be one of {list(POSITION_KEYS)}")
        if not 0.0 <= test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0:
            raise ValueError("dataset.test_fraction and dataset.val_fraction must be in [0, 1)")
        self.root = Path(root).expanduser()
        self.name = name
        self.temperature = temperature
        self.reader: Reader = reader if reader is not None else NpzReader()
        if temperature is not None and getattr(self.reader, "temperature", 0.0) is None:
            self.reader.temperature = float(temperature)  # type: ignore[attr-defined]
        self.train_glob = train_glob
        self.test_glob = test_glob
        self.test_fraction = test_fraction
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.limit_train = limit_train
        self.limit_test = limit_test
        self.positions = positions
        self.target = target
        self.time_indices = None if time_indices is None else list(time_indices)
        self.tau_alpha_index = tau_alpha_index
        if isinstance(train_species, str) and train_species != "all":
            raise ValueError(
                f"dataset.train_species={train_species!r}: expected a list of species "
                "indices or 'all'"
            )
        # 'all': every species in the files, known at setup
        self.train_species: list[int] | None = (
            None if isinstance(train_species, str) else [int(s) for s in train_species]
        )
        self.num_species = num_species
        self.cutoff = float(cutoff)
        self.self_loops = bool(self_loops)
        self.augmentation = augmentation
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.shuffle = bool(shuffle)
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        if keep_on_device not in (True, False, "auto"):
            raise ValueError(
                f"dataset.keep_on_device must be true, false or auto, got {keep_on_device!r}"
            )
        self.keep_on_device = keep_on_device
        self.graph_device: torch.device | None = None  # where the graphs live, None: host
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.missing_hint = missing_hint
        self.target_stats = target_stats
        self.standardize_targets = bool(standardize_targets)
        # descriptor specs, validated now so that bad config fails before any file is read;
        # energy-carrying specs without their own potential take the system's
        if isinstance(potential, DictConfig):
            potential = OmegaConf.to_container(potential, resolve=True)
        self.potential = potential
        self.node_feature_specs = [
            replace(spec, potential=potential)
            if potential is not None and getattr(spec, "potential", 0) is None
            else spec
            for spec in parse_specs(node_features, "dataset.node_features")
        ]
        self.feature_stats = feature_stats

        self.files: dict[str, list[Path]] = {}
        self.datasets: dict[str, GraphDataset] = {}
        self.raw: dict[str, list[dict[str, Any]]] = {}
        self.info: DataInfo | None = None

    # ------------------------------------------------------------------ splits

    def _missing(self, what: str) -> DatasetNotFoundError:
        hint = f"; {self.missing_hint}" if self.missing_hint else ""
        return DatasetNotFoundError(f"{what}{hint}")

    def split_files(self) -> dict[str, list[Path]]:
        """The train/val/test file lists, deterministic given the config."""
        root = self.root.resolve()
        if not root.is_dir():
            raise self._missing(f"dataset directory {root} does not exist")
        pool = list_files(root, self.train_glob)
        if not pool:
            raise self._missing(f"no files matching '{self.train_glob}' in {root}")
        rng = np.random.default_rng(self.split_seed)
        if self.test_glob:
            test = list_files(root, self.test_glob)
            if not test:
                raise self._missing(f"no test files matching '{self.test_glob}' in {root}")
            test_set = set(test)
            pool = [p for p in pool if p not in test_set]
        else:
            order = rng.permutation(len(pool))
            n_test = round(self.test_fraction * len(pool))
            if self.test_fraction > 0:
                n_test = max(1, n_test)
            test = sorted((pool[i] for i in order[:n_test]), key=pool.index)
            test_set = set(test)
            pool = [p for p in pool if p not in test_set]
        if self.positions == "cage":
            pool, test = (
                self._with_positions(pool, "training pool"),
                self._with_positions(test, "test split"),
            )
        if self.limit_test is not None:
            test = test[: self.limit_test]
        order = rng.permutation(len(pool))
        n_val = max(1, round(self.val_fraction * len(pool))) if self.val_fraction > 0 else 0
        val = sorted((pool[i] for i in order[:n_val]), key=pool.index)
        val_set = set(val)
        train = [p for p in pool if p not in val_set]
        if self.limit_train is not None:
            train = train[: self.limit_train]
        if not train:
            raise DatasetError(
                f"{root}: {len(pool) + len(test)} files leave no training configuration "
                f"after the test ({len(test)}) and validation ({len(val)}) splits"
            )
        return {"train": train, "val": val, "test": test}

    def _with_positions(self, files: list[Path], what: str) -> list[Path]:
        """The files that hold the `positions` set (GlassBench stores cage positions only
        in files 1-100 and 401-500); logs how many; an error if none do."""
        key = POSITION_KEYS[self.positions]
        keep = [p for p in files if self._has_key(p, key)]
        if files and not keep:
            raise DatasetError(
                f"dataset.positions={self.positions} needs key '{key}', which none of the "
                f"{len(files)} files of the {what} in {self.root} hold; choose "
                "dataset.positions=equilibrium or inherent"
            )
        log.info(
            "dataset.positions=%s: using %d of %d files of the %s (the others hold no '%s')",
            self.positions,
            len(keep),
            len(files),
            what,
            key,
        )
        return keep

    def _has_key(self, path: Path, key: str) -> bool:
        if path.suffix == ".npz":
            return key in npz_keys(path)
        return self.positions in self.reader(path).positions

    # ------------------------------------------------------------------ caching

    def _cache_key(self, path: Path) -> str:
        """Hash of everything that determines a cached graph: config and file identity."""
        st = path.stat()
        spec = {
            "version": CACHE_VERSION,
            "reader": repr(self.reader),
            "positions": self.positions,
            "target": self.target,
            "cutoff": self.cutoff,
            "self_loops": self.self_loops,
            "file": str(path.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]

    def _process(self, path: Path) -> dict[str, Any]:
        """Read one file and build its graph (all time scales; selection happens later)."""
        return self.graph_inputs(self.reader(path), path)

    def graph_inputs(
        self, conf: Configuration, path: Path | str, require_target: bool = True
    ) -> dict[str, Any]:
        """The graph of one configuration, unselected and unstandardised. Without the target
        (`require_target=False`, for predictions) the targets are NaN."""
        if self.positions not in conf.positions:
            raise DatasetError(
                f"{path}: dataset.positions={self.positions} needs key "
                f"'{POSITION_KEYS[self.positions]}', which this file does not have"
            )
        if self.target in conf.targets:
            target = conf.targets[self.target]
        elif require_target:
            raise DatasetError(
                f"{path}: dataset.target={self.target} but the file has no key '{self.target}'"
                f" (it has {sorted(conf.targets) or 'no targets'})"
            )
        else:
            n_times = 1 + max(self.time_indices or [0])
            target = np.full((n_times, conf.n_particles), np.nan)
        pos = conf.positions[self.positions]
        edge_index, vec = periodic_edges(pos, conf.box, self.cutoff, self.self_loops)
        return {
            "species": torch.from_numpy(conf.types.astype(np.int64)),
            "pos": torch.from_numpy(pos.astype(np.float32)),
            "box": torch.from_numpy(conf.box.astype(np.float32)),
            "edge_index": torch.from_numpy(edge_index.astype(np.int32)),
            "edge_vec": torch.from_numpy(vec.astype(np.float32)),
            "target": torch.from_numpy(target.astype(np.float32)),
            "times": None if conf.times is None else conf.times.tolist(),
            "tau_alpha": conf.metadata.get("tau_alpha"),
            "tau_alpha_row": conf.metadata.get("tau_alpha_row"),
            "is_values": conf.metadata.get("is_values"),
            "times_source": conf.metadata.get("times_source"),
            "source": str(path),
        }

    def graph_of(self, conf: Configuration, path: Path | str) -> Data:
        """The model input for one configuration outside the splits (glassml-predict):
        descriptors and standardisation as set up (`info` must be set, e.g. from a
        checkpoint)."""
        assert self.info is not None, "graph_of needs the data info of a trained model"
        raw = self.graph_inputs(conf, path, require_target=False)
        if self.node_feature_specs:
            values, names = compute_descriptors(
                conf.positions,
                conf.types,
                conf.box,
                self.info.num_species,
                self.node_feature_specs,
                source=str(path),
                key="dataset.node_features",
            )
            if names != self.info.node_feature_names:
                raise DatasetError(
                    f"{path}: its descriptors ({len(names)}) differ from the model's "
                    f"({len(self.info.node_feature_names)})"
                )
            mean = np.asarray(self.info.node_feature_mean)
            std = np.asarray(self.info.node_feature_std)
            raw["node_features"] = torch.from_numpy(((values - mean) / std).astype(np.float32))
        return self._to_data(raw, 0)

    def load_raw(self, path: Path) -> dict[str, Any]:
        """Graph of one file, from the cache when a matching entry exists."""
        if self.cache_dir is None:
            return self._process(path)
        cache_file = self.cache_dir / self.name / f"{path.stem}-{self._cache_key(path)}.pt"
        if cache_file.exists():
            try:
                return torch.load(cache_file, weights_only=True)
            except Exception:  # a corrupt entry (e.g. disk full) is rebuilt, not fatal
                pass
        raw = self._process(path)
        with atomic_path(cache_file) as tmp:
            torch.save(raw, tmp)
        return raw

    # ------------------------------------------------------------------ setup

    def _tau_index(self, raws: list[dict[str, Any]], n_times: int) -> int | None:
        """Index in the file's time grid closest to tau_alpha, if known."""
        if self.tau_alpha_index is not None:
            if not -n_times <= int(self.tau_alpha_index) < n_times:
                raise DatasetError(
                    f"dataset.tau_alpha_index={self.tau_alpha_index} but the files in "
                    f"{self.root} have {n_times} time scales"
                )
            return int(self.tau_alpha_index) % n_times
        first = raws[0]
        if first.get("tau_alpha_row") is not None:  # Bapst: the row whose ISF level is 1/e
            return int(first["tau_alpha_row"])
        times = first["times"]
        if first.get("tau_alpha") is not None and times is not None:
            tau = float(first["tau_alpha"])
            return int(np.argmin(np.abs(np.log(np.asarray(times)) - np.log(tau))))
        if first.get("tau_alpha") is not None:
            log.warning(
                "%s: tau_alpha = %g is known but the files have no time grid (no times key, "
                "no grid file, no dataset.reader.times): the time closest to tau_alpha is "
                "unknown and the longest time stands in for it",
                self.name,
                float(first["tau_alpha"]),
            )
        return None

    @staticmethod
    def _grid(raws: list[dict[str, Any]]) -> list[float] | None:
        """The time grid of the files; the per-row median where files differ (the Bapst
        release picks its times per file)."""
        grids = [r["times"] for r in raws]
        if any(g is None for g in grids):
            return None
        arr = np.asarray(grids, dtype=np.float64)
        return np.median(arr, axis=0).tolist()

    def _select_times(
        self, raws: list[dict[str, Any]]
    ) -> tuple[list[int], list[float] | None, int]:
        """Selected time indices, their times, and the position of tau_alpha among them."""
        n_times = {int(r["target"].shape[0]) for r in raws}
        if len(n_times) != 1:
            raise DatasetError(
                f"{self.root}: files disagree on the number of time scales: {sorted(n_times)}"
            )
        n = n_times.pop()
        tau_index = self._tau_index(raws, n)
        requested = list(range(n)) if self.time_indices is None else list(self.time_indices)
        idx: list[int] = []
        for t in requested:
            if t == "tau":  # the paper's protocol: one network at tau_alpha
                if tau_index is None:
                    raise DatasetError(
                        "dataset.time_indices asks for 'tau' but tau_alpha is unknown: set "
                        "dataset.tau_alpha_index"
                    )
                t = tau_index
            if isinstance(t, str) or not -n <= int(t) < n:
                raise DatasetError(
                    f"dataset.time_indices={requested} invalid: the files have {n} time "
                    f"scales (indices 0..{n - 1}, or 'tau')"
                )
            idx.append(int(t) % n)
        if not idx:
            raise DatasetError("dataset.time_indices is empty")
        times = self._grid(raws)
        sel_times = None if times is None else [float(times[t]) for t in idx]
        if tau_index is None:
            tau_pos = len(idx) - 1  # no information: the longest selected time
        else:
            tau_pos = int(np.argmin([abs(t - tau_index) for t in idx]))
        self._log_grid(raws, times, tau_index)
        return idx, sel_times, tau_pos

    def _log_grid(
        self, raws: list[dict[str, Any]], times: list[float] | None, tau_index: int | None
    ) -> None:
        """Say which time grid and which tau_alpha the run uses, and where they came from."""
        first = raws[0]
        source = first.get("times_source") or ("the files" if times is not None else None)
        grid = "unknown (labelled by index)" if times is None else f"{np.round(times, 6).tolist()}"
        log.info("%s: time grid %s%s", self.name, grid, f" from {source}" if source else "")
        if times is not None and len({tuple(r["times"]) for r in raws}) > 1:
            spread = np.ptp(np.log([r["times"] for r in raws]), axis=0).max()
            log.info(
                "%s: the files' times differ (by up to a factor %.3g); labels use the median",
                self.name,
                float(np.exp(spread)),
            )
        if tau_index is None:
            return
        how = (
            "dataset.tau_alpha_index"
            if self.tau_alpha_index is not None
            else "the row whose is_values is 1/e"
            if first.get("tau_alpha_row") is not None
            else f"the grid time closest to tau_alpha = {first.get('tau_alpha'):g}"
        )
        at = "" if times is None else f", t = {times[tau_index]:.6g}"
        log.info("%s: tau_alpha at time index %d%s (%s)", self.name, tau_index, at, how)

    def setup(self, stage: str | None = None) -> None:
        """Read, build and standardise all splits once (idempotent)."""
        if self.info is not None:
            return
        self.files = self.split_files()
        self.raw = {s: [self.load_raw(p) for p in self.files[s]] for s in SPLITS}
        all_raw = [r for s in SPLITS for r in self.raw[s]]
        dims = {int(r["pos"].shape[1]) for r in all_raw}
        if len(dims) != 1:
            raise DatasetError(f"{self.root}: files mix dimensions {sorted(dims)}")
        idx, times, tau_pos = self._select_times(all_raw)
        is_values = all_raw[0].get("is_values")
        max_species = max(int(r["species"].max()) for r in all_raw) + 1
        num_species = self.num_species or max_species
        if max_species > num_species:
            raise DatasetError(
                f"{self.root}: files hold species up to {max_species - 1} but "
                f"dataset.num_species={num_species}"
            )
        if self.train_species is None:
            self.train_species = list(range(int(num_species)))
        if self.target_stats is not None:
            mean = np.asarray(self.target_stats["mean"], dtype=np.float64)
            std = np.asarray(self.target_stats["std"], dtype=np.float64)
            if mean.shape != (len(idx),) or std.shape != (len(idx),):
                raise DatasetError(
                    f"target_stats hold {mean.shape[0]} time scales, the data selects {len(idx)}"
                )
        species_std: list[list[float]] = []
        if self.target_stats is None:
            mean, std = self._train_stats(idx)
            species_std = [self._species_std(idx, s) for s in range(int(num_species))]
            if not self.standardize_targets:  # raw targets (Bapst et al.); stats still checked
                mean, std = np.zeros_like(mean), np.ones_like(std)
        names, f_mean, f_std = self._attach_node_features(int(num_species))
        self.info = DataInfo(
            dim=dims.pop(),
            num_species=int(num_species),
            time_indices=idx,
            times=times,
            tau_position=tau_pos,
            target_mean=mean.tolist(),
            target_std=std.tolist(),
            train_species=self.train_species,
            target=self.target,
            positions=self.positions,
            species_names=list(SPECIES_NAMES[:num_species]),
            num_node_features=len(names),
            node_feature_names=names,
            node_feature_mean=f_mean,
            node_feature_std=f_std,
            is_values=None if is_values is None else [float(is_values[t]) for t in idx],
            species_target_std=species_std,
        )
        for split in SPLITS:
            graphs = [self._to_data(r, i) for i, r in enumerate(self.raw[split])]
            for r in self.raw[split]:  # the graph now lives in the Data object only
                del r["edge_index"], r["edge_vec"]
            transform = self.augmentation if split == "train" else None
            self.datasets[split] = GraphDataset(graphs, transform)

    def _attach_node_features(self, num_species: int) -> tuple[list[str], list[float], list[float]]:
        """Descriptors of every file (cached per file and spec list) as raw["node_features"],
        standardised with training-split statistics (or `feature_stats` when evaluating)."""
        if not self.node_feature_specs:
            return [], [], []
        cache = None if self.cache_dir is None else self.cache_dir / self.name / "features"
        names: list[str] | None = None
        for split in SPLITS:
            for path, raw in zip(self.files[split], self.raw[split], strict=True):
                values, cols = file_descriptors(
                    path, self.reader, self.node_feature_specs, num_species, cache
                )
                if names is not None and cols != names:
                    raise DatasetError(
                        f"{path}: its descriptors differ from the other files' "
                        f"({len(cols)} vs {len(names)} columns)"
                    )
                names = cols
                raw["node_features"] = torch.from_numpy(values)
        assert names is not None
        if self.feature_stats is not None:
            mean = np.asarray(self.feature_stats["mean"], dtype=np.float64)
            std = np.asarray(self.feature_stats["std"], dtype=np.float64)
            if mean.shape != (len(names),) or std.shape != (len(names),):
                raise DatasetError(
                    f"dataset.feature_stats hold {mean.shape[0]} descriptors, "
                    f"dataset.node_features give {len(names)}"
                )
        else:
            train = torch.cat([r["node_features"] for r in self.raw["train"]]).double()
            mean = train.mean(dim=0).numpy()
            std = train.std(dim=0).numpy()
            std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        m = torch.from_numpy(mean).float()
        sd = torch.from_numpy(std).float()
        for split in SPLITS:
            for raw in self.raw[split]:
                raw["node_features"] = (raw["node_features"] - m) / sd
        return names, mean.tolist(), std.tolist()

    def _train_targets(self, idx: list[int], species: list[int]) -> torch.Tensor:
        """Raw training targets [T, n] at the time indices `idx` of the particles of
        `species`, all training configurations together."""
        vals = [
            r["target"][idx][:, torch.isin(r["species"], torch.tensor(species))].double()
            for r in self.raw["train"]
        ]
        return torch.cat(vals, dim=1) if vals else torch.zeros(len(idx), 0, dtype=torch.float64)

    @staticmethod
    def _std(values: torch.Tensor) -> np.ndarray:
        """Std [T] over particles, 1 where it is 0 (a constant target stays finite)."""
        std = values.std(dim=1).numpy()
        return np.where(std > 0, std, 1.0)

    def _train_stats(self, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
        allv = self._train_targets(idx, self.train_species)
        if allv.shape[1] < 2:
            raise DatasetError(
                f"{self.root}: the training split has no particles of species "
                f"{self.train_species} (dataset.train_species)"
            )
        return allv.mean(dim=1).numpy(), self._std(allv)

    def _species_std(self, idx: list[int], species: int) -> list[float]:
        """Std [T] of the raw training targets of one trained species ([] when it is not
        trained or has fewer than two training particles)."""
        if species not in self.train_species:
            return []
        allv = self._train_targets(idx, [species])
        return self._std(allv).tolist() if allv.shape[1] >= 2 else []

    def _to_data(self, raw: dict[str, Any], config_index: int) -> Data:
        assert self.info is not None
        info = self.info
        species = raw["species"]
        vec = raw["edge_vec"]
        dist = vec.norm(dim=1, keepdim=True)
        y = raw["target"][info.time_indices].T.contiguous()
        mean = torch.tensor(info.target_mean, dtype=torch.float32)
        std = torch.tensor(info.target_std, dtype=torch.float32)
        extra = {}
        if "node_features" in raw:  # expert descriptors, [N, F] standardised
            extra["node_features"] = raw["node_features"]
        return Data(
            x=torch.nn.functional.one_hot(species, info.num_species).float(),
            species=species,
            pos=raw["pos"],
            box=raw["box"].reshape(1, -1),
            edge_index=raw["edge_index"].long(),
            edge_attr=torch.cat([vec, dist], dim=1),
            y=(y - mean) / std,
            config_index=torch.tensor([config_index]),
            num_nodes=int(species.shape[0]),
            **extra,
        )

    # ------------------------------------------------------------------ loaders

    def _accelerator(self) -> torch.device | None:
        """The trainer's GPU when the graphs should be kept there (`keep_on_device`)."""
        trainer = getattr(self, "trainer", None)
        if self.keep_on_device is False or trainer is None:
            return None
        device = trainer.strategy.root_device
        if device.type == "cpu":
            return None
        if self.num_workers > 0:
            if self.keep_on_device is True:
                raise ValueError(
                    "dataset.keep_on_device=true needs dataset.num_workers=0: loader worker "
                    "processes cannot hand out GPU tensors"
                )
            return None
        return device

    def graphs_to(self, device: torch.device) -> None:
        """Move every split's graphs to `device` once: batches are then assembled there and
        the accelerator never waits for host-to-device copies."""
        if self.graph_device == device:
            return
        for dataset in self.datasets.values():
            dataset.graphs = [g.to(device) for g in dataset.graphs]
        self.graph_device = device

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        device = self._accelerator()
        if device is not None:
            self.graphs_to(device)
        on_host = self.graph_device is None
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers if on_host else 0,
            pin_memory=self.pin_memory and on_host,
            persistent_workers=self.num_workers > 0 and on_host,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=self.shuffle)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def raw_targets(self, split: str) -> list[np.ndarray]:
        """Unstandardised selected targets per configuration, [N, T] each."""
        assert self.info is not None
        return [r["target"][self.info.time_indices].T.double().numpy() for r in self.raw[split]]

    def describe(self) -> str:
        """One line for logs: sizes of the splits and what is learned."""
        n = {s: len(self.files.get(s, [])) for s in SPLITS}
        info = self.info
        times = "" if info is None else f", targets {self.target}[{info.time_indices}]"
        return (
            f"{self.name}: {n['train']} train / {n['val']} val / {n['test']} test "
            f"configurations from {self.root}{times}"
        )
