"""The sweeper plugin is found by Hydra when glassml is installed, and the configs compose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra_plugins.glassml_optuna_sweeper._space import check_keys, parse_space
from omegaconf import OmegaConf

from glassml.training.config import config_dir
from glassml.training.train import build_trainer

REPO = Path(__file__).resolve().parents[2]
SWEEPER = "hydra_plugins.glassml_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def test_hydra_discovers_the_sweeper_outside_the_repository(tmp_path) -> None:
    """From another folder (so not through the current directory): the installed package."""
    code = (
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.sweeper import Sweeper\n"
        "from hydra.plugins.launcher import Launcher\n"
        "import hydra_plugins.glassml_optuna_sweeper as p\n"
        "ps = Plugins.instance()\n"
        "print([c.__module__ + '.' + c.__name__ for c in ps.discover(Sweeper)])\n"
        "print([c.__name__ for c in ps.discover(Launcher)])\n"
        "print(p.__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    sweepers, launchers, location = res.stdout.strip().splitlines()
    assert SWEEPER in sweepers
    assert all(name in launchers for name in ("JoblibLauncher", "SlurmLauncher", "LocalLauncher"))
    assert Path(location).resolve().is_relative_to(REPO / "hydra_plugins")


def test_package_discovery_ships_the_plugin() -> None:
    """pyproject's find settings include hydra_plugins (as a namespace) next to glassml."""
    tomllib = pytest.importorskip("tomllib")
    from setuptools import find_namespace_packages

    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {
        pkg
        for where in find["find"]["where"]
        for pkg in find_namespace_packages(str(REPO / where), include=find["find"]["include"])
    }
    assert {"glassml", "hydra_plugins.glassml_optuna_sweeper"} <= found
    assert not (REPO / "hydra_plugins" / "__init__.py").exists()  # must stay a namespace


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    ("search", "model"),
    [("optuna", "bapst"), ("optuna", "bapst_quick"), ("bapst_optuna", "bapst_quick")],
)
def test_hparams_search_configs_compose(search, model) -> None:
    cfg = _compose([f"hparams_search={search}", f"model={model}"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == SWEEPER and str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert sweeper.direction == "maximize" and sweeper.sampler._target_.endswith("TPESampler")
    assert sweeper.pruner._target_ == "optuna.pruners.MedianPruner"
    assert cfg.callbacks.optuna_pruning.monitor == cfg.optimized_metric == "val/pearson_A_tau"
    space, fixed = parse_space(OmegaConf.to_container(sweeper.params), [])
    assert not fixed and len(space) == (6 if search == "bapst_optuna" else 4)
    check_keys(cfg, list(space), set(cfg.hydra.runtime.choices))


def test_random_sampler_replaces_tpe() -> None:
    cfg = _compose(["hparams_search=bapst_optuna", "hydra/sweeper/sampler=random"])
    assert cfg.hydra.sweeper.sampler._target_ == "optuna.samplers.RandomSampler"
    assert cfg.hydra.sweeper.sampler.seed == 1234


def test_slurm_and_ddp_configs(tmp_path) -> None:
    cfg = _compose(["hydra/launcher=slurm", "trainer=ddp", "trainer.accelerator=cpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    for key in ("partition", "gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min"):
        assert key in launcher
    assert launcher.array_parallelism == 32
    trainer = build_trainer(cfg.trainer, devices=2, logger=False, default_root_dir=str(tmp_path))
    assert type(trainer.strategy).__name__ == "DDPStrategy" and trainer.world_size == 2
