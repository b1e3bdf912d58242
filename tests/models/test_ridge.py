"""Ridge regression: the closed form against numpy's least squares, alpha selection, and a
run through glassml-train (one epoch, no gradient steps)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch_geometric.data import Batch, Data

from glassml.data.synthetic import write_synthetic_dataset
from glassml.models.ridge import RidgeRegression
from glassml.training.train import train

from ..hydra_helpers import compose_config


def _datamodule(seed: int = 0, n_graphs: int = 6, n: int = 200, f: int = 5, t: int = 2):
    """Linear data with noise; species-dependent weights."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(2, f, t))
    b = rng.normal(size=(2, t))

    def graph():
        x = rng.normal(size=(n, f))
        s = (rng.random(n) < 0.3).astype(np.int64)
        y = np.einsum("nf,nft->nt", x, w[s]) + b[s] + 0.1 * rng.normal(size=(n, t))
        return Data(
            node_features=torch.tensor(x, dtype=torch.float32),
            species=torch.tensor(s),
            y=torch.tensor(y, dtype=torch.float32),
            num_nodes=n,
        )

    ds = {
        k: SimpleNamespace(graphs=[graph() for _ in range(m)])
        for k, m in (("train", n_graphs), ("val", 2))
    }
    info = SimpleNamespace(train_species=[0], num_species=2)
    return SimpleNamespace(datasets=ds, info=info), w, b


def test_closed_form_equals_least_squares() -> None:
    dm, w, b = _datamodule()
    net = RidgeRegression(num_species=2, num_targets=2, num_node_features=5, alphas=[0.0])
    net.fit_closed_form(dm)
    for s in (0, 1):
        xs, ys = [], []
        for g in dm.datasets["train"].graphs:
            m = g.species == s
            xs.append(g.node_features[m].double().numpy())
            ys.append(g.y[m].double().numpy())
        x = np.concatenate(xs)
        x1 = np.concatenate([x, np.ones((len(x), 1))], axis=1)
        sol = np.linalg.lstsq(x1, np.concatenate(ys), rcond=None)[0]
        np.testing.assert_allclose(net.weight[s].detach().numpy(), sol[:-1], atol=1e-5)
        np.testing.assert_allclose(net.bias[s].detach().numpy(), sol[-1], atol=1e-5)
        np.testing.assert_allclose(sol[:-1], w[s], atol=0.05)  # and it recovers the truth
    batch = Batch.from_data_list(dm.datasets["val"].graphs)
    pred = net(batch)
    expect = torch.einsum("nf,nft->nt", batch.node_features, net.weight[batch.species])
    torch.testing.assert_close(pred, expect + net.bias[batch.species])


def test_ridge_penalty_and_alpha_selection() -> None:
    dm, _, _ = _datamodule(n_graphs=1, n=40, f=5)
    alpha = 0.7
    net = RidgeRegression(num_species=2, num_targets=2, num_node_features=5, alphas=[alpha])
    net.fit_closed_form(dm)
    g = dm.datasets["train"].graphs[0]
    m = g.species == 0
    x, y = g.node_features[m].double().numpy(), g.y[m].double().numpy()
    xc, yc = x - x.mean(0), y - y.mean(0)
    w = np.linalg.solve(xc.T @ xc + alpha * len(x) * np.eye(5), xc.T @ yc)
    np.testing.assert_allclose(net.weight[0].detach().numpy(), w, atol=1e-5)
    # an absurd penalty loses against a sensible one on validation data
    pick = RidgeRegression(num_species=2, num_targets=2, num_node_features=5, alphas=[1e3, 1e-3])
    pick.fit_closed_form(dm)
    assert float(pick.alpha) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="alphas"):
        RidgeRegression(num_node_features=5, alphas=[-1.0])
    with pytest.raises(ValueError, match=r"dataset\.node_features"):
        RidgeRegression(num_node_features=0).fit_closed_form(dm)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("native")
    write_synthetic_dataset(path, n_configs=6, n_particles=150, n_times=3)
    return path


def test_trains_through_glassml_train(root, tmp_path) -> None:
    overrides = [
        "model=ridge",
        "dataset=generated",
        f"dataset.root={root}",
        "trainer=cpu",
        "trainer.max_epochs=20",  # the closed-form model stops after one epoch anyway
        "logger=csv",
        "callbacks.rich_progress_bar=null",
    ]
    cfg = compose_config("train", overrides, tmp_path)
    train(cfg)
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["pearson"]["model"]["A"]["pooled"][0] is not None
    ckpt = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=False)
    assert float(ckpt["state_dict"]["net.weight"].abs().sum()) > 0  # fitted, then saved
    assert ckpt["epoch"] == 0  # one epoch
    # no gradient step moved the closed-form solution
    dm = instantiate(cfg.dataset)
    dm.setup()
    ref = RidgeRegression(
        num_species=2,
        num_targets=3,
        num_node_features=dm.info.num_node_features,
        alphas=list(cfg.model.net.alphas),
    )
    ref.fit_closed_form(dm)
    torch.testing.assert_close(ckpt["state_dict"]["net.weight"], ref.weight.detach())


def test_fast_dev_run(root, tmp_path) -> None:
    overrides = [
        "model=ridge",
        "dataset=generated",
        f"dataset.root={root}",
        "trainer=cpu",
        "trainer.fast_dev_run=true",
        "logger=csv",
    ]
    train(compose_config("train", overrides, tmp_path))
    assert json.loads((tmp_path / "test_metrics.json").read_text())["pearson"]["model"]
