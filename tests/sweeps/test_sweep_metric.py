"""hparams_search=optuna optimises the run's checkpoint metric unless told otherwise."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from glassml.training.config import config_dir
from glassml.training.pruning import check_sweep_config


def compose_sweep(overrides: list[str]) -> DictConfig:
    """The trial config as the Optuna sweeper sees it (hydra section included)."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    ("overrides", "metric"),
    [
        ([], "val/pearson_A_tau"),
        (["experiment=bapst2020"], "val/pearson_cfg_A_tau"),
        (["experiment=sorting_fate"], "val/auroc"),
        (["experiment=bapst2020", "optimized_metric=val/pearson_A_mean"], "val/pearson_A_mean"),
    ],
)
def test_sweep_optimises_the_checkpoint_metric(overrides: list[str], metric: str) -> None:
    cfg = compose_sweep(["hparams_search=optuna", *overrides])
    assert cfg.optimized_metric == metric  # the objective glassml-train returns to Optuna
    assert cfg.callbacks.optuna_pruning.monitor == metric  # what the pruner sees per epoch
    if "optimized_metric" not in " ".join(overrides):
        # the kept checkpoint is chosen by the same metric, so the objective is its value
        assert cfg.callbacks.model_checkpoint.monitor == metric
    check_sweep_config(cfg)  # the sweeper's validate hook accepts the trial config


def test_bapst_optuna_follows_bapst2020() -> None:
    cfg = compose_sweep(["hparams_search=bapst_optuna", "experiment=bapst2020"])
    assert cfg.optimized_metric == cfg.callbacks.optuna_pruning.monitor
    assert cfg.optimized_metric == "val/pearson_cfg_A_tau"
