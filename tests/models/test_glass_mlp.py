"""GlassMLP: architecture, per-species heads, the MAE and spatial-correlation losses, and
training through glassml-train."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.data import Batch, Data

from glassml.data.datamodule import DataInfo
from glassml.data.synthetic import write_synthetic_dataset
from glassml.models.bapst import count_parameters
from glassml.models.glass_mlp import GlassMLP
from glassml.training.module import PropensityModule, spatial_correlation_loss
from glassml.training.train import train

from ..hydra_helpers import compose_config


def _graph(n: int = 30, f: int = 7, t: int = 3, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (4 * n,), generator=g)
    dst = torch.randint(0, n, (4 * n,), generator=g)
    return Data(
        node_features=torch.randn(n, f, generator=g),
        species=(torch.rand(n, generator=g) < 0.3).long(),
        y=torch.randn(n, t, generator=g),
        edge_index=torch.stack([src, dst]),
        num_nodes=n,
    )


def test_architecture_and_parameter_count() -> None:
    net = GlassMLP(num_species=2, num_targets=3, num_node_features=7)
    # per species: 7*2+2, 2*10+10, 10*10+10, 10*3+3
    assert count_parameters(net) == 2 * (16 + 30 + 110 + 33)
    assert [m.out_features for m in net.nets[0] if isinstance(m, torch.nn.Linear)] == [2, 10, 10, 3]
    assert any(isinstance(m, torch.nn.ELU) for m in net.nets[0])
    batch = Batch.from_data_list([_graph(), _graph(seed=1)])
    out = net(batch)
    assert out.shape == (60, 3)
    # each particle goes through its own species' network
    for s in (0, 1):
        m = batch.species == s
        torch.testing.assert_close(out[m], net.nets[s](batch.node_features[m]))
    assert net.bottleneck(batch).shape == (60, 2)


def test_needs_descriptors() -> None:
    batch = Batch.from_data_list([_graph()])
    del batch.node_features
    with pytest.raises(ValueError, match=r"dataset\.node_features.*features=glass_mlp"):
        GlassMLP(num_node_features=0)(batch)
    with pytest.raises(ValueError, match="built for 5 descriptors, got 7"):
        GlassMLP(num_node_features=5)(Batch.from_data_list([_graph()]))


def test_spatial_correlation_loss() -> None:
    batch = Batch.from_data_list([_graph(), _graph(seed=1)])
    mask = batch.species == 0
    y = batch.y
    assert float(spatial_correlation_loss(y.clone(), batch, mask)) == pytest.approx(0.0, abs=1e-7)
    # a prediction with the right values but shuffled in space has other correlations
    perm = torch.randperm(y.shape[0], generator=torch.Generator().manual_seed(3))
    assert float(spatial_correlation_loss(y[perm], batch, mask)) > 1e-3
    # a constant prediction misses the whole variance of the smoothed target
    pred = torch.zeros_like(y, requires_grad=True)
    loss = spatial_correlation_loss(pred + 0.0, batch, mask)
    assert float(loss.detach()) > 0
    loss.backward()
    assert pred.grad is not None


def test_module_losses() -> None:
    info = DataInfo(3, 2, [0, 1, 2], None, 1, [0.0] * 3, [1.0] * 3, [0], num_node_features=7)
    batch = Batch.from_data_list([_graph()])
    mae = PropensityModule(GlassMLP, torch.optim.Adam, info, loss="mae")
    assert isinstance(mae.net, GlassMLP)  # num_node_features reached the factory
    preds = mae(batch)
    m = batch.species == 0
    expect = (preds[m] - batch.y[m]).abs().mean()
    torch.testing.assert_close(mae._loss(preds, batch), expect)
    both = PropensityModule(GlassMLP, torch.optim.Adam, info, loss="mae", spatial_weight=0.5)
    extra = 0.5 * spatial_correlation_loss(preds, batch, m)
    torch.testing.assert_close(both._loss(preds, batch), expect + extra)
    with pytest.raises(ValueError, match=r"model\.loss='huber'"):
        PropensityModule(GlassMLP, torch.optim.Adam, info, loss="huber")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("native")
    write_synthetic_dataset(path, n_configs=6, n_particles=150, n_times=3)
    return path


def test_trains_through_glassml_train(root, tmp_path) -> None:
    overrides = [
        "model=glass_mlp",
        "dataset=generated",
        f"dataset.root={root}",
        "trainer=cpu",
        "trainer.max_epochs=3",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
    ]
    cfg = compose_config("train", overrides, tmp_path)
    train(cfg)
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["pearson"]["model"]["A"]["pooled"][0] is not None
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    ckpt = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=False)
    info = ckpt["glassml"]["data_info"]
    assert info["num_node_features"] == len(info["node_feature_names"]) > 50
