"""The pair potential of `glassml-data import` (inherent structures): its truncation option."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from glassml.data.importer import spec_from_config

from ..hydra_helpers import compose_config


def _section(**potential) -> dict:
    cfg = compose_config("data", ["command=import", "import=lammps"])
    section = OmegaConf.to_container(cfg["import"])
    section.update(root="runs", output_dir="out")
    section["potential"].update(potential)
    return section


def test_default_is_the_shifted_lj_and_smooth_is_accepted() -> None:
    assert spec_from_config(_section()).potential.table.truncation == "shift"
    assert spec_from_config(_section(truncation="smooth")).potential.table.truncation == "smooth"


def test_unknown_truncation_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"import\.potential\.truncation.*smooth"):
        spec_from_config(_section(truncation="cubic"))
