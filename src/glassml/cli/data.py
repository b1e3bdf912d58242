"""`glassml-data download <source>` / `glassml-data import <layout>` (conf/data.yaml).

    glassml-data download glassbench     # = glassml-data download=glassbench
    glassml-data download bapst download.limit=10
    glassml-data import lammps import.root=runs/ import.output_dir=data/mine

The positional forms are rewritten into Hydra overrides (`download=<source>`, or
`command=import import=<layout>`); any other argument is passed to Hydra unchanged.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from glassml.data.io import DatasetError
from glassml.training.config import config_dir, register_resolvers

register_resolvers()
log = logging.getLogger("glassml.data")


def translate_argv(argv: list[str]) -> list[str]:
    """`download NAME ...` -> `download=NAME ...`, `import NAME ...` -> `command=import
    import=NAME ...`; Hydra overrides pass through."""
    args = list(argv)
    if args and args[0] in ("download", "import"):
        command = args.pop(0)
        if args and "=" not in args[0] and not args[0].startswith("-"):
            args[0] = f"{command}={args[0]}"
        if command == "import":
            args.insert(0, "command=import")
    return args


def run(cfg: DictConfig):
    """Download the configured source or import trajectories (importable without Hydra)."""
    if cfg.get("command", "download") == "import":
        from glassml.data.importer import run_import

        if cfg.get("import") is None:
            raise ValueError("glassml-data import needs a layout: glassml-data import lammps")
        return run_import(cfg)
    from glassml.data.download import download

    opts = OmegaConf.to_container(cfg.download, resolve=True)
    assert isinstance(opts, dict)
    return download(progressbar=bool(cfg.progress), **opts)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="data")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        result = run(cfg)
    except DatasetError as err:  # bad input: one clear line naming the file, exit 1
        log.error("%s", err)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted: finished files are kept; re-run the same command to resume")
        sys.exit(130)
    if cfg.get("command") == "import":
        log.info("dataset written to %s", result)


def main() -> None:
    sys.argv = [sys.argv[0], *translate_argv(sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
