"""Tiny trained runs for the evaluation tests: two synthetic datasets, one with per-run
displacements (for the ceiling), and a 2-epoch training on each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassml.data.synthetic import write_synthetic_dataset
from glassml.io import atomic_save_npz

from ..hydra_helpers import compose_config


def add_runs(root: Path, n_runs: int = 8, seed: int = 0) -> None:
    """Make the files simulator-like: a fixed composition (20% B) and per-run displacements
    whose mean is md_prop."""
    rng = np.random.default_rng(seed)
    for path in sorted(root.glob("config_*.npz")):
        with np.load(path) as f:
            data = {k: f[k] for k in f.files}
        data["types"] = (np.arange(data["types"].shape[0]) % 5 == 4).astype(np.int64)
        md = data["md_prop"]
        runs = md[None] * rng.lognormal(0.0, 0.4, size=(n_runs, *md.shape))
        data["md_prop_runs"] = runs.astype(np.float32)
        data["md_prop"] = runs.mean(axis=0)
        atomic_save_npz(path, **data)


def train_run(root: Path, out: Path, epochs: int = 2, extra: tuple[str, ...] = ()) -> Path:
    from glassml.training.train import train

    cfg = compose_config(
        "train",
        [
            "dataset=generated",
            f"dataset.root={root}",
            f"dataset.name={root.name}",
            "model=bapst_quick",
            "model.net.hidden=8",
            "trainer=cpu",
            f"trainer.max_epochs={epochs}",
            "logger=csv",
            "callbacks.rich_progress_bar=null",
            *extra,
        ],
        out,
    )
    train(cfg)
    return out


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("eval_data")
    roots = {"warm": base / "warm", "cold": base / "cold"}
    write_synthetic_dataset(roots["warm"], n_configs=8, n_particles=64, n_times=4, seed=1)
    write_synthetic_dataset(roots["cold"], n_configs=8, n_particles=64, n_times=4, seed=2)
    add_runs(roots["warm"])
    return roots


@pytest.fixture(scope="session")
def eval_runs(eval_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/<name>/ = one trained run per dataset (a miniature outputs/ directory)."""
    runs = tmp_path_factory.mktemp("runs")
    for name, root in eval_data.items():
        train_run(root, runs / name)
    return runs


@pytest.fixture(scope="session")
def all_species_run(eval_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warm dataset trained with dataset.train_species=all (both heads trained)."""
    out = tmp_path_factory.mktemp("runs_all") / "warm_all"
    return train_run(eval_data["warm"], out, extra=("dataset.train_species=all",))
