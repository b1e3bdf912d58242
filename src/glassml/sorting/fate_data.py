"""Lightning data module of the domain-fate dataset (`glassml-train dataset=sorting_domains`).

Reads a file written by ``python -m glassml.sorting.fate build`` and serves, per domain,
its tabular features (standardised, counts on a log scale) and optionally its
neighbourhood graph, with the label 1 = extracted, 0 = dissolved. Splits are temporal
within every run (`glassml.sorting.fate.latest_snapshots`): test = the latest snapshots,
validation = the ones just before, so one domain never sits on both sides of a split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from glassml.sorting import fate

SPLITS = ("train", "val", "test")


@dataclass
class FateBatch:
    """A batch of domains: tabular features [B, F], labels [B], and their graphs if asked for."""

    u: torch.Tensor
    y: torch.Tensor
    size: torch.Tensor
    graph: Any = None  # torch_geometric Batch with x, edge_index, batch

    @property
    def num_graphs(self) -> int:
        return int(self.y.shape[0])


class _Samples(Dataset):
    def __init__(
        self, u: np.ndarray, y: np.ndarray, size: np.ndarray, run: np.ndarray, graphs: list | None
    ):
        self.u = torch.from_numpy(u.astype(np.float32))
        self.run = np.asarray(run)  # source run of every sample, for per-run scores
        self.y = torch.from_numpy(y.astype(np.float32))
        self.size = torch.from_numpy(size.astype(np.float32))
        self.graphs = graphs

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> int:
        return i  # the collate function gathers rows by index (one tensor op per batch)

    def collate(self, idx: list[int]) -> FateBatch:
        index = torch.as_tensor(idx)
        graph = None
        if self.graphs is not None:
            from torch_geometric.data import Batch

            graph = Batch.from_data_list([self.graphs[i] for i in idx])
        return FateBatch(self.u[index], self.y[index], self.size[index], graph)


class DomainFateDataModule(pl.LightningDataModule):
    """Domains of sorting runs with their fate; see the module docstring.

    `features`: names from `glassml.sorting.fate.FEATURES` (null: all of them; `[size]`
    gives the size-alone reference through the same model and training).
    `max_train_samples` subsamples the training split (seeded), for quick runs.
    """

    def __init__(
        self,
        path: str,
        name: str = "sorting_domains",
        features: Sequence[str] | None = None,
        graph: bool = False,
        test_fraction: float = 0.3,
        val_fraction: float = 0.15,
        max_train_samples: int | None = None,
        seed: int = 0,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        missing_hint: str = "",
    ) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.name = name
        self.features = None if features is None else [str(f) for f in features]
        unknown = sorted(set(self.features or []) - set(fate.FEATURES))
        if unknown:
            raise ValueError(
                f"dataset.features: unknown {unknown}; expected names from {list(fate.FEATURES)}"
            )
        if self.features is not None and not self.features:
            raise ValueError("dataset.features is empty: give at least one feature or null (all)")
        for key, v in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
            if not 0.0 < v < 1.0:
                raise ValueError(f"dataset.{key}={v}: expected a fraction in (0, 1)")
        if max_train_samples is not None and max_train_samples < 1:
            raise ValueError(f"dataset.max_train_samples={max_train_samples}: expected >= 1")
        self.graph = graph
        self.test_fraction = test_fraction
        self.val_fraction = val_fraction
        self.max_train_samples = max_train_samples
        self.seed = seed
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.missing_hint = missing_hint
        self.datasets: dict[str, _Samples] = {}
        self.info: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if not self.path.is_file():
            hint = f"; {self.missing_hint}" if self.missing_hint else ""
            raise FileNotFoundError(f"domain-fate dataset {self.path} does not exist{hint}")
        try:
            return fate.load_fate_dataset(self.path)
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{self.path}: cannot read a domain-fate dataset ({err})") from err

    def split_masks(self, meta: np.ndarray) -> dict[str, np.ndarray]:
        """Temporal train/val/test masks (see the module docstring)."""
        test = fate.latest_snapshots(meta, self.test_fraction)
        val = fate.latest_snapshots(meta, self.val_fraction / (1 - self.test_fraction), test)
        train = ~(test | val)
        if self.max_train_samples is not None and train.sum() > self.max_train_samples:
            keep = np.random.default_rng(self.seed).choice(
                np.flatnonzero(train), self.max_train_samples, replace=False
            )
            train = np.zeros_like(train)
            train[keep] = True
        return {"train": train, "val": val, "test": test}

    def setup(self, stage: str | None = None) -> None:
        if self.info is not None:
            return
        data = self._load()
        names = [str(n) for n in data.get("feature_names", fate.FEATURES)]
        chosen = self.features or names
        missing = sorted(set(chosen) - set(names))
        if missing:
            raise ValueError(f"{self.path}: has no feature(s) {missing} (it has {names})")
        cols = [names.index(f) for f in chosen]
        x = fate.log_counts(data["x"], names)[:, cols]
        y = np.asarray(data["y"], dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError(f"{self.path}: non-finite values in the features {chosen}")
        masks = self.split_masks(data["meta"])
        for split, m in masks.items():
            if len(np.unique(y[m])) < 2:
                raise ValueError(
                    f"{self.path}: the {split} split ({int(m.sum())} domains) does not hold "
                    "both fates; use a dataset with more snapshots or other split fractions"
                )
        mean, std = x[masks["train"]].mean(0), x[masks["train"]].std(0)
        std = np.where(std > 0, std, 1.0)
        u = (x - mean) / std
        for split, m in masks.items():
            graphs = [self._graph(data, i) for i in np.flatnonzero(m)] if self.graph else None
            self.datasets[split] = _Samples(u[m], y[m], data["x"][m, 0], data["meta"][m, 0], graphs)
        self.info = {
            "features": chosen,
            "num_features": len(cols),
            "num_node_features": int(data["node_feat"].shape[1]),
            "feature_mean": mean.tolist(),
            "feature_std": std.tolist(),
            "extracted_fraction": {s: float(y[m].mean()) for s, m in masks.items()},
            "sizes": {s: int(m.sum()) for s, m in masks.items()},
            "source": str(self.path),
        }

    @staticmethod
    def _graph(data: dict[str, Any], i: int) -> Any:
        from torch_geometric.data import Data

        feat, pos, edges = fate.graph(data, int(i))
        return Data(
            x=torch.from_numpy(feat),
            pos=torch.from_numpy(pos.astype(np.float32)),
            edge_index=torch.from_numpy(edges),
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        ds = self.datasets[split]
        return DataLoader(
            ds,
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            shuffle=shuffle,
            collate_fn=ds.collate,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def describe(self) -> str:
        """One line for logs: split sizes and extracted fractions."""
        if self.info is None:
            return f"domain fates from {self.path}"
        sz, fr = self.info["sizes"], self.info["extracted_fraction"]
        parts = ", ".join(f"{s} {sz[s]} ({fr[s]:.0%} extracted)" for s in SPLITS)
        return f"domain fates from {self.path}: {parts}; features {self.info['features']}"
