"""`glassml-evaluate ckpt_path=...`: predictions, metrics.json and plots for a checkpoint."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from glassml.training.config import config_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from glassml.evaluation.evaluate import evaluate  # heavy imports after Hydra parsed the CLI

    evaluate(cfg)


if __name__ == "__main__":
    main()
