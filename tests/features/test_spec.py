"""Descriptor specs: valid configs parse, bad ones fail at config time naming the key."""

from __future__ import annotations

import pytest

from glassml.data.datamodule import GlassDataModule
from glassml.features import FeatureSpecError, parse_specs
from glassml.features.spec import DensitySpec, SteinhardtSpec

from ..hydra_helpers import compose_config


def test_defaults_and_options_parse() -> None:
    specs = parse_specs(
        [
            {"name": "density", "lengths": [0.5, 2], "kernel": "gaussian"},
            "voronoi",
            {"name": "steinhardt", "l": [4, 6], "wl": False},
        ]
    )
    assert isinstance(specs[0], DensitySpec) and specs[0].lengths == (0.5, 2.0)
    assert specs[1].positions == "inherent"  # the inherent structure by default
    assert isinstance(specs[2], SteinhardtSpec) and specs[2].l == (4, 6)
    assert parse_specs(None) == [] and parse_specs([]) == []


@pytest.mark.parametrize(
    ("items", "pattern"),
    [
        ([{"name": "densty"}], r"node_features\[0\]\.name: unknown descriptor 'densty'.*density"),
        ([{"name": "density", "lengths": [1.0, 0.0]}], r"node_features\[0\]\.lengths.*> 0"),
        ([{"name": "voronoi"}, {"name": "energy", "lengths": [-1]}], r"\[1\]\.lengths"),
        ([{"name": "density", "lengths": []}], r"\[0\]\.lengths: the density needs"),
        ([{"name": "steinhardt", "l": [6, 13]}], r"\[0\]\.l=\[6, 13\]: l must be in 2\.\.12"),
        ([{"name": "steinhardt", "l": [1]}], r"l must be in 2\.\.12"),
        ([{"name": "steinhardt", "r_max": 0}], r"\[0\]\.r_max=0: must be > 0"),
        ([{"name": "radial", "width": -0.1}], r"\[0\]\.width"),
        ([{"name": "density", "kernel": "box"}], r"\[0\]\.kernel='box'.*exp"),
        ([{"name": "density", "positions": "thermal"}], r"\[0\]\.positions='thermal'"),
        ([{"name": "energy", "bogus": 1}], r"\[0\]: unknown option\(s\) \['bogus'\]"),
        ([{"lengths": [1]}], r"\[0\]: expected a mapping with a 'name'"),
        ({"name": "density"}, r"expected a list of descriptor specs"),
    ],
)
def test_bad_specs_name_the_key(items, pattern) -> None:
    with pytest.raises(FeatureSpecError, match=pattern):
        parse_specs(items, "dataset.node_features")


def test_datamodule_rejects_bad_specs_before_reading(tmp_path) -> None:
    with pytest.raises(FeatureSpecError, match=r"dataset\.node_features\[0\]\.l"):
        GlassDataModule(
            root=str(tmp_path / "absent"), node_features=[{"name": "steinhardt", "l": [0]}]
        )


@pytest.mark.parametrize("name", ["glass_mlp", "all", "none"])
def test_feature_configs_validate(name) -> None:
    cfg = compose_config("train", [f"+features={name}"])
    specs = parse_specs(cfg.dataset.node_features)
    assert (len(specs) == 0) == (name == "none")
