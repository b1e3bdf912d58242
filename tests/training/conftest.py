"""Synthetic datasets in every supported layout and a Hydra compose helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassml.data.synthetic import write_synthetic_dataset

from ..hydra_helpers import compose_config


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


@pytest.fixture
def compose_train():
    return lambda overrides, out_dir=None: compose_config("train", overrides, out_dir)
