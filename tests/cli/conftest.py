"""A tiny synthetic dataset and a trained checkpoint shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassml.data.synthetic import write_synthetic_dataset

from ..hydra_helpers import QUICK_TRAIN, compose_config


@pytest.fixture
def compose():
    return compose_config


@pytest.fixture(scope="session")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_data")
    write_synthetic_dataset(root, n_configs=8, n_particles=48, n_times=4)
    return root


@pytest.fixture(scope="session")
def trained_run(dataset_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directory of a 2-epoch training on the synthetic dataset."""
    from glassml.training.train import train

    out = tmp_path_factory.mktemp("trained")
    cfg = compose_config(
        "train",
        [
            "dataset=generated",
            f"dataset.root={dataset_root}",
            *QUICK_TRAIN,
            "trainer.max_epochs=2",
        ],
        out,
    )
    train(cfg)
    return out
