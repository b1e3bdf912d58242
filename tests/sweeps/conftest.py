"""A tiny dataset, and `glassml-train` run in this process the way the shell runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from glassml.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def sweep_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep_data")
    write_synthetic_dataset(root, n_configs=8, n_particles=48, n_times=4)
    return root


def tiny_run(root: Path, tmp: Path) -> list[str]:
    """Overrides for a seconds-long training on the tiny dataset."""
    return [
        "dataset=generated",
        f"dataset.root={root}",
        f"paths.cache_dir={tmp}/cache",
        "model=bapst_quick",
        "model.net.hidden=8",
        "trainer=cpu",
        "trainer.max_epochs=2",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        "test=false",
    ]


@pytest.fixture
def glassml_train(monkeypatch: pytest.MonkeyPatch):
    """Run `glassml-train ARGS` in-process (Hydra's main, sweeper and launcher included).

    HYDRA_FULL_ERROR=1 lets exceptions through instead of printing them and exiting.
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from glassml.cli.train import main

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")

    def run(*args: str) -> None:
        GlobalHydra.instance().clear()
        monkeypatch.setattr(sys, "argv", ["glassml-train", *args])
        try:
            main()
        finally:
            GlobalHydra.instance().clear()
            HydraConfig.instance().cfg = None  # no stale run config for later tests

    return run
