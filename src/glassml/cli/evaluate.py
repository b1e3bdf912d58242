"""`glassml-evaluate`: score checkpoints with the GlassBench metrics (conf/evaluate.yaml).

glassml-evaluate ckpt_path=outputs/.../checkpoints/best.ckpt    # one run
glassml-evaluate mode=transfer runs_dir=multirun/...             # transfer matrix
glassml-evaluate mode=leaderboard runs_dir=outputs               # leaderboard
glassml-evaluate mode=published dataset=glassbench_ka3d          # stored GlassBench predictions
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from glassml.data.io import DatasetError
from glassml.training.checkpoint import CheckpointError
from glassml.training.config import config_dir, register_resolvers

register_resolvers()
log = logging.getLogger("glassml.evaluate")

MODES = ("evaluate", "transfer", "leaderboard", "published")


def run(cfg: DictConfig) -> dict:
    """Dispatch on `cfg.mode` (heavy imports only after Hydra parsed the command line)."""
    if cfg.mode == "evaluate":
        from glassml.evaluation.evaluate import evaluate

        return evaluate(cfg)
    if cfg.mode == "transfer":
        from glassml.evaluation.transfer import run_transfer

        return run_transfer(cfg)
    if cfg.mode == "leaderboard":
        from glassml.evaluation.leaderboard import run_leaderboard

        return run_leaderboard(cfg)
    if cfg.mode == "published":
        from glassml.evaluation.stored import run_published

        return run_published(cfg)
    raise ValueError(f"mode={cfg.mode!r} is not one of {MODES}")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (CheckpointError, DatasetError) as err:  # bad input: one clear line, exit 1
        log.error("%s", err)
        sys.exit(1)


if __name__ == "__main__":
    main()
