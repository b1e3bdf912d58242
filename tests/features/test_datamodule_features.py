"""Descriptors in the data pipeline: caching, standardisation, missing positions, GNN input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from glassml.data.datamodule import GlassDataModule
from glassml.data.io import NpzReader
from glassml.data.synthetic import write_synthetic_dataset
from glassml.features import MissingPositionsError, file_descriptors, parse_specs
from glassml.training.train import train

from ..hydra_helpers import compose_config

SPECS = [
    {"name": "density", "lengths": [1.0, 2.0]},
    {"name": "energy", "lengths": [1.0]},
    {"name": "voronoi"},
    {"name": "steinhardt", "l": [4, 6], "lengths": [1.0]},
]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("native")
    write_synthetic_dataset(path, n_configs=6, n_particles=150, n_times=3)
    return path


def test_cache_is_reused_and_keyed_by_specs(root, tmp_path, monkeypatch) -> None:
    path = sorted(root.glob("config_*.npz"))[0]
    specs = parse_specs(SPECS)
    values, names = file_descriptors(path, NpzReader(), specs, 2, tmp_path)
    assert values.dtype == np.float32 and values.shape == (150, len(names))
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr("glassml.features.cache.compute_descriptors", fail)
    again, names2 = file_descriptors(path, NpzReader(), specs, 2, tmp_path)
    np.testing.assert_array_equal(values, again)
    assert names2 == names
    # other specs: another cache entry (and a computation)
    with pytest.raises(AssertionError, match="recomputed"):
        file_descriptors(path, NpzReader(), parse_specs(SPECS[:1]), 2, tmp_path)


def test_datamodule_attaches_standardised_descriptors(root, tmp_path) -> None:
    dm = GlassDataModule(root=str(root), node_features=SPECS, cache_dir=str(tmp_path))
    dm.setup()
    info = dm.info
    assert info is not None and info.num_node_features == len(info.node_feature_names) > 10
    train = torch.cat([g.node_features for g in dm.datasets["train"].graphs]).double()
    np.testing.assert_allclose(train.mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(0).numpy(), 1.0, atol=1e-4)
    g = dm.datasets["test"].graphs[0]
    assert g.node_features.shape == (g.num_nodes, info.num_node_features)
    # the test file's descriptors standardised with the training statistics
    raw, _ = file_descriptors(dm.files["test"][0], NpzReader(), parse_specs(SPECS), 2, None)
    z = (raw - np.asarray(info.node_feature_mean)) / np.asarray(info.node_feature_std)
    np.testing.assert_allclose(g.node_features.numpy(), z, rtol=1e-4, atol=1e-3)
    # fixed statistics (evaluation of a trained model) are used as given
    stats = {"mean": [0.0] * len(raw[0]), "std": [1.0] * len(raw[0])}
    dm2 = GlassDataModule(root=str(root), node_features=SPECS, feature_stats=stats)
    dm2.setup()
    np.testing.assert_allclose(dm2.datasets["test"].graphs[0].node_features.numpy(), raw)


def test_no_descriptors_keeps_the_old_layout(root) -> None:
    dm = GlassDataModule(root=str(root))
    dm.setup()
    assert dm.info.num_node_features == 0
    assert "node_features" not in dm.datasets["train"].graphs[0]


def test_missing_inherent_structure_names_file_and_option(tmp_path) -> None:
    write_synthetic_dataset(tmp_path, n_configs=4, n_particles=64, n_times=2)
    bad = tmp_path / "config_0002.npz"
    with np.load(bad) as f:
        data = {k: f[k] for k in f.files if k != "initial_positions_inherent"}
    np.savez(bad, **data)
    dm = GlassDataModule(root=str(tmp_path), node_features=[{"name": "density"}])
    with pytest.raises(MissingPositionsError) as err:
        dm.setup()
    msg = str(err.value)
    assert "config_0002.npz" in msg and "'initial_positions_inherent'" in msg
    assert "glassml-simulate" in msg and "simulator.fire" in msg
    assert "dataset.node_features[0].positions=equilibrium" in msg
    ok = GlassDataModule(
        root=str(tmp_path), node_features=[{"name": "density", "positions": "equilibrium"}]
    )
    ok.setup()
    assert ok.info.num_node_features == 9  # 3 lengths x (A, B, all)


def test_gnn_takes_descriptors_as_extra_inputs(root, tmp_path) -> None:
    overrides = [
        "model=bapst_quick",
        "model.net.hidden=8",
        "+features=glass_mlp",
        f"dataset.root={root}",
        "dataset=generated",
        "trainer=cpu",
        "trainer.fast_dev_run=true",
        "logger=csv",
    ]
    cfg = compose_config("train", overrides, tmp_path)
    train(cfg)
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["pearson"]["model"]["A"]["pooled"]
    resolved = (tmp_path / "config_resolved.yaml").read_text()
    assert "name: physics_inspired" in resolved  # the specs are part of the run's config


def test_constant_descriptor_columns_become_zero(root, tmp_path) -> None:
    """GlassMLP's L = 0 density of all species (1) and L = 0 variances (0) are the same
    for every particle: standardised, they are 0, not NaN (std taken as 1)."""
    spec = {"name": "physics_inspired", "lengths": [0.0, 1.0]}
    dm = GlassDataModule(root=str(root), node_features=[spec], cache_dir=str(tmp_path))
    dm.setup()
    names = dm.info.node_feature_names
    constant = [names.index(f"phys_{obs}_L0_all") for obs in ("rho", "epot_var")]
    for split in ("train", "test"):
        x = torch.cat([g.node_features for g in dm.datasets[split].graphs])
        assert torch.isfinite(x).all()
        assert torch.equal(x[:, constant], torch.zeros(len(x), 2))
    assert [dm.info.node_feature_std[k] for k in constant] == [1.0, 1.0]
