"""Thin Hydra entry points. Configs live in the repository's top-level `conf/` directory
(shipped inside the package as well, see glassml.project)."""

from glassml.project import config_dir

# an absolute path: Hydra would resolve a relative one as a Python package inside glassml
CONFIG_DIR = str(config_dir())
