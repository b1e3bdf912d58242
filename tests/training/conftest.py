"""Synthetic datasets in every supported layout and a Hydra compose helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from glassml.data.synthetic import write_synthetic_dataset
from glassml.training.config import config_dir


@pytest.fixture(scope="session")
def synthetic_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny datasets: native 3D, GlassBench 3D and 2D, Bapst pickles (no network)."""
    base = tmp_path_factory.mktemp("synthetic")
    roots = {
        "native": base / "native",
        "glassbench3d": base / "glassbench3d",
        "glassbench2d": base / "glassbench2d",
        "bapst": base / "bapst",
    }
    write_synthetic_dataset(roots["native"], n_configs=8, n_particles=48, n_times=4)
    write_synthetic_dataset(
        roots["glassbench3d"], n_configs=6, n_particles=48, layout="glassbench", n_times=10
    )
    write_synthetic_dataset(
        roots["glassbench2d"], n_configs=6, n_particles=48, dim=2, layout="glassbench", n_times=10
    )
    write_synthetic_dataset(roots["bapst"], n_configs=6, n_particles=48, layout="bapst")
    return roots


def compose_config(name: str, overrides: list[str], out_dir: Path | None = None) -> DictConfig:
    """Compose `conf/<name>.yaml` as the CLI would, with run paths under `out_dir`."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(name, overrides=overrides)
    if out_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(out_dir)
            cfg.paths.log_dir = str(out_dir)
            cfg.paths.cache_dir = str(out_dir / "cache")
    return cfg


@pytest.fixture
def compose_train():
    return lambda overrides, out_dir=None: compose_config("train", overrides, out_dir)
