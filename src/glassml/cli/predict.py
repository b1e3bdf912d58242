"""`glassml-predict`: propensity predictions of a checkpoint for any configuration
(conf/predict.yaml; glassml.evaluation.predict)."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from glassml.data.io import DatasetError
from glassml.training.checkpoint import CheckpointError
from glassml.training.config import config_dir, register_resolvers

register_resolvers()
log = logging.getLogger("glassml.predict")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="predict")
def main(cfg: DictConfig) -> None:
    from glassml.evaluation.predict import predict_files  # heavy imports after parsing

    try:
        written = predict_files(cfg)
    except (CheckpointError, DatasetError) as err:  # bad input: one clear line, exit 1
        log.error("%s", err)
        sys.exit(1)
    log.info("%d prediction file(s) in %s", len(written), cfg.output_dir)


if __name__ == "__main__":
    main()
