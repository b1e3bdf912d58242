"""`glassml-train`: compose the Hydra config and call `glassml.training.train.train`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from glassml.training.config import config_dir, register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train and test; return the optimised metric for sweepers."""
    from glassml.training.train import train  # heavy imports after Hydra parsed the CLI

    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


if __name__ == "__main__":
    main()
