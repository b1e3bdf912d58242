"""Thin Hydra entry points. Configs live in the repository's top-level `conf/` directory."""

from pathlib import Path

# an absolute path: Hydra would resolve a relative one as a Python package inside glassml
CONFIG_DIR = str(Path(__file__).resolve().parents[3] / "conf")
