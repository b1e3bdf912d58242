"""`glassml-evaluate`: score checkpoints with the GlassBench metrics (conf/evaluate.yaml).

glassml-evaluate ckpt_path=outputs/.../checkpoints/best.ckpt    # one run
glassml-evaluate mode=transfer runs_dir=multirun/...             # transfer matrix
glassml-evaluate mode=leaderboard runs_dir=outputs               # leaderboard
glassml-evaluate mode=published dataset=glassbench_ka3d          # stored GlassBench predictions
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from glassml.training.config import config_dir, register_resolvers

register_resolvers()

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
    run(cfg)


if __name__ == "__main__":
    main()
