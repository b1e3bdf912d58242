"""Compose the project's Hydra configs in tests, as the command-line entry points do."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from glassml.training.config import config_dir

# a tiny Bapst GNN on the CPU, logged to CSV without a progress bar: training in seconds
QUICK_TRAIN = [
    "model=bapst_quick",
    "model.net.hidden=8",
    "trainer=cpu",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]


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
