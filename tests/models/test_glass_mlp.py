"""GlassMLP: architecture, per-species and per-time networks, the coarse-grained spatial
loss (against a loop over all pairs), and training through glassml-train."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from glassml.data.datamodule import DataInfo
from glassml.data.synthetic import write_synthetic_dataset
from glassml.models.bapst import count_parameters
from glassml.models.glass_mlp import GlassMLP
from glassml.training.glass_mlp_loss import coarse_grained_mse
from glassml.training.module import PropensityModule
from glassml.training.train import train

from ..hydra_helpers import compose_config


def _graph(n: int = 30, f: int = 7, t: int = 3, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (4 * n,), generator=g)
    dst = torch.randint(0, n, (4 * n,), generator=g)
    box = 3.0
    return Data(
        pos=torch.rand(n, 3, generator=g, dtype=torch.float64).float() * box,
        box=torch.full((1, 3), box),
        node_features=torch.randn(n, f, generator=g),
        species=(torch.rand(n, generator=g) < 0.3).long(),
        y=torch.randn(n, t, generator=g),
        edge_index=torch.stack([src, dst]),
        num_nodes=n,
    )


def test_paper_architecture_one_network_per_species_and_time() -> None:
    net = GlassMLP(num_species=2, num_targets=3, num_node_features=7)
    # 2 species x 3 times networks of 7*2+2, 2*10+10, 10*10+10, 10*1+1 parameters
    assert count_parameters(net) == 6 * (16 + 30 + 110 + 11)
    assert [m.out_features for m in net.nets[0] if isinstance(m, torch.nn.Linear)] == [2, 10, 10, 1]
    batch = Batch.from_data_list([_graph(), _graph(seed=1)])
    out = net(batch)
    assert out.shape == (60, 3)
    for s in (0, 1):
        m = batch.species == s
        for t in range(3):
            expect = net.nets[3 * s + t](batch.node_features[m])[:, 0]
            torch.testing.assert_close(out[m, t], expect)
    assert net.bottleneck(batch, time=2).shape == (60, 2)


def test_shared_time_architecture_and_parameter_count() -> None:
    net = GlassMLP(num_species=2, num_targets=3, num_node_features=7, per_time=False)
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


def _coarse_loop(values, pos, box, keep, length, radius):
    """Coarse-grained field by a loop over all pairs (minimum image)."""
    out = {}
    for i in np.nonzero(keep)[0]:
        d = pos - pos[i]
        d -= box * np.round(d / box)
        r = np.sqrt((d * d).sum(1))
        w = np.exp(-r / length) * (r < radius) * keep
        out[i] = (w[:, None] * values).sum(0) / w.sum()
    return np.stack([out[i] for i in sorted(out)])


def test_coarse_grained_mse_matches_a_loop_over_pairs() -> None:
    graphs = [_graph(n=40), _graph(n=40, seed=1)]
    batch = Batch.from_data_list(graphs)
    mask = batch.species == 0
    g = torch.Generator().manual_seed(5)
    preds = torch.randn(batch.y.shape, generator=g, dtype=torch.float64)
    loss = coarse_grained_mse(preds, batch, mask, length=0.4)
    expect = []
    for k, data in enumerate(graphs):
        rows = slice(40 * k, 40 * (k + 1))
        keep = (data.species == 0).numpy()
        pos, box = data.pos.double().numpy(), data.box[0].double().numpy()
        radius = min(0.4 * 8.406, 0.5 * 3.0)
        cp = _coarse_loop(preds[rows].numpy(), pos, box, keep, 0.4, radius)
        cy = _coarse_loop(data.y.double().numpy(), pos, box, keep, 0.4, radius)
        expect.append(((cp - cy) ** 2).mean())
    assert float(loss) == pytest.approx(float(np.mean(expect)), rel=1e-9)


def test_coarse_grained_mse_sees_spatial_structure() -> None:
    batch = Batch.from_data_list([_graph(), _graph(seed=1)])
    mask = batch.species == 0
    y = batch.y
    assert float(coarse_grained_mse(y.clone(), batch, mask, 1.0)) == pytest.approx(0, abs=1e-10)
    # a smooth field (long wavelength) shuffled in space loses its coarse-grained pattern
    smooth = torch.sin(2 * np.pi * batch.pos[:, :1] / 3.0).repeat(1, 3)
    batch.y = smooth
    perm = torch.randperm(y.shape[0], generator=torch.Generator().manual_seed(3))
    assert float(coarse_grained_mse(smooth[perm], batch, mask, 1.0)) > 1e-2
    pred = torch.zeros_like(smooth, requires_grad=True)
    loss = coarse_grained_mse(pred + 0.0, batch, mask, 1.0)
    loss.backward()
    assert float(loss.detach()) > 0 and pred.grad is not None
    with pytest.raises(ValueError, match="spatial_length"):
        coarse_grained_mse(pred, batch, mask, 0.0)


def test_module_losses() -> None:
    info = DataInfo(3, 2, [0, 1, 2], None, 1, [0.0] * 3, [1.0] * 3, [0], num_node_features=7)
    batch = Batch.from_data_list([_graph()])
    mae = PropensityModule(GlassMLP, torch.optim.Adam, info, loss="mae")
    assert isinstance(mae.net, GlassMLP)  # num_node_features reached the factory
    preds = mae(batch)
    m = batch.species == 0
    expect = (preds[m] - batch.y[m]).abs().mean()
    torch.testing.assert_close(mae._loss(preds, batch), expect)
    both = PropensityModule(
        GlassMLP, torch.optim.Adam, info, loss="mae", spatial_weight=0.5, spatial_length=1.0
    )
    extra = 0.5 * coarse_grained_mse(preds, batch, m, 1.0)
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
