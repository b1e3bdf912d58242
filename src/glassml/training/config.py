"""Config plumbing shared by `glassml-train` and `glassml-evaluate`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from glassml.io import atomic_write_text
from glassml.project import config_dir as package_config_dir
from glassml.project import project_root, sample_dir


def config_dir() -> Path:
    """The `conf/` directory: GLASSML_CONFIG_DIR, else the repository's (as glassml-simulate)."""
    env = os.environ.get("GLASSML_CONFIG_DIR")
    return Path(env).resolve() if env else package_config_dir()


def _format(value: Any, spec: str) -> str:
    return format(float(value), spec)


def _root() -> str:
    return str(project_root())


def _sample(data_dir: str) -> str:
    return str(sample_dir(data_dir))


def register_resolvers() -> None:
    """`${glassml_format:${dataset.temperature},.2f}`: GlassBench folders are named T0.50;
    `${glassml_root:}`: the project root (glassml.project); `${glassml_sample:<data_dir>}`:
    the embedded sample, in data_dir or shipped in the package."""
    for name, fn in (
        ("glassml_format", _format),
        ("glassml_root", _root),
        ("glassml_sample", _sample),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """Resolved plain-dict copy of the config (for loggers, checkpoints, files)."""
    out = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(out, dict)
    return out


def save_resolved_config(cfg: DictConfig, path: str | os.PathLike[str]) -> None:
    """Write the fully resolved config (every interpolation expanded) atomically."""
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.create(to_container(cfg))))


register_resolvers()
