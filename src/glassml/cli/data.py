"""`glassml-data download <source>`: fetch a public dataset into data/ (conf/data.yaml).

    glassml-data download glassbench     # = glassml-data download=glassbench
    glassml-data download bapst download.limit=10

The positional form is rewritten into the Hydra override `download=<source>`; any
other argument is passed to Hydra unchanged.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from glassml.training.config import config_dir, register_resolvers

register_resolvers()


def translate_argv(argv: list[str]) -> list[str]:
    """`download NAME ...` -> `download=NAME ...`; Hydra overrides pass through."""
    args = list(argv)
    if args and args[0] == "download":
        args.pop(0)
        if args and "=" not in args[0] and not args[0].startswith("-"):
            args[0] = f"download={args[0]}"
    return args


def run(cfg: DictConfig) -> dict:
    """Download the configured source (importable without Hydra, for tests)."""
    from glassml.data.download import download

    opts = OmegaConf.to_container(cfg.download, resolve=True)
    assert isinstance(opts, dict)
    return download(progressbar=bool(cfg.progress), **opts)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="data")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    sys.argv = [sys.argv[0], *translate_argv(sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
