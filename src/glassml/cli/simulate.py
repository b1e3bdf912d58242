"""glassml-simulate: the Hydra entry point of every simulator.

The simulator config names its job with `_target_`; this file only composes the config
and calls that function, turning expected failures into one clear line and exit code 1.
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.utils import get_method
from omegaconf import DictConfig

from glassml.cli import CONFIG_DIR
from glassml.simulate.config import ConfigError
from glassml.simulate.md import SimulationError

log = logging.getLogger("glassml.simulate")


def simulate(cfg: DictConfig):
    """Run the job the simulator config names (importable and testable without the CLI)."""
    if "_target_" not in cfg.simulator:
        raise ConfigError("simulator._target_ is missing: it names the function to run")
    return get_method(cfg.simulator._target_)(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="simulate")
def _main(cfg: DictConfig) -> None:
    try:
        result = simulate(cfg)
    except (ConfigError, SimulationError) as err:
        log.error("%s", err)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted: finished files are kept; re-run the same command to resume")
        sys.exit(130)
    if result is not None:
        log.info("done: %s", result)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
