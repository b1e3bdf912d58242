"""GlassMLP: architecture, per-species and per-time networks, the authors' loss (against
an independent evaluation with loops over all pairs; guards; gradients), and training
through glassml-train with the authors' phases."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch_geometric.data import Batch, Data

from glassml.data.datamodule import DataInfo
from glassml.data.synthetic import write_synthetic_dataset
from glassml.models.bapst import count_parameters
from glassml.models.glass_mlp import GlassMLP
from glassml.training.glass_mlp_loss import (
    CorrelationTerms,
    configuration_loss,
    glass_mlp_losses,
    mobility_correlation,
    pair_distances,
    pooled_network_losses,
    soft_mobility_fluctuation,
)
from glassml.training.module import POINT_LOSSES, PropensityModule
from glassml.training.train import train

from ..glass_mlp_reference import loop_mobility_correlation
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


@pytest.mark.parametrize(
    ("per_species", "per_time"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_network_for_is_the_network_that_predicts_species_and_time(per_species, per_time) -> None:
    net = GlassMLP(
        num_species=2,
        num_targets=3,
        num_node_features=7,
        per_species=per_species,
        per_time=per_time,
    )
    batch = Batch.from_data_list([_graph(), _graph(seed=1)])
    before = net(batch).detach()
    for s in (0, 1):
        for t in range(3):
            unit = net.network_for(s, t)
            with torch.no_grad():
                saved = [q.clone() for q in unit.parameters()]
                for q in unit.parameters():
                    q.add_(0.5)
                changed = (net(batch) - before).abs() > 0
                for q, old in zip(unit.parameters(), saved, strict=True):
                    q.copy_(old)
            # the unit moves the prediction of (s, t), and only what it serves
            served_species = torch.ones_like(batch.species, dtype=torch.bool)
            if per_species:
                served_species = batch.species == s
            served = torch.zeros_like(changed)
            for t2 in range(3) if not per_time else [t]:
                served[:, t2] = served_species
            assert changed[served_species, t].all()
            assert not changed[~served].any()
    with pytest.raises(IndexError):
        net.network_for(0, 3)


def test_needs_descriptors() -> None:
    batch = Batch.from_data_list([_graph()])
    del batch.node_features
    with pytest.raises(ValueError, match=r"dataset\.node_features.*features=glass_mlp"):
        GlassMLP(num_node_features=0)(batch)
    with pytest.raises(ValueError, match="built for 5 descriptors, got 7"):
        GlassMLP(num_node_features=5)(Batch.from_data_list([_graph()]))


MEAN = torch.tensor([0.30, 0.45, 0.60], dtype=torch.float64)
STD = torch.tensor([0.10, 0.05, 0.20], dtype=torch.float64)


def _config(n: int = 24, box: float = 7.0, seed: int = 0, t: int = 3) -> Data:
    """A hand-made configuration: random positions in a cubic box, two species."""
    g = torch.Generator().manual_seed(seed)
    return Data(
        pos=torch.rand(n, 3, generator=g) * box,
        box=torch.full((1, 3), box),
        species=(torch.arange(n) % 3 == 0).long(),
        y=torch.randn(n, t, generator=g),
        num_nodes=n,
    )


def _authors_loss(pred, true, pos, box, fc=0.5, fv=1.0, distances=(2.0, 4.0, 6.0)):
    """One configuration, one species, one time: the authors' formula with explicit loops
    over pairs (pred, true: physical propensities; the MAE of standardised values is
    passed in separately)."""

    def corr(p):
        q = (np.tanh((p - 0.44) * 20.0) + 1.0) / 2.0
        return loop_mobility_correlation(q, pos, box, distances)

    ct, cp = corr(true), corr(pred)
    c_term = np.abs(ct - cp).sum() / abs(ct[0] - ct[-1])
    v_term = abs(pred.var() - true.var()) / true.var()
    return fc * c_term + fv * v_term


def _terms(**kw) -> CorrelationTerms:
    return CorrelationTerms(**{"correlation_weight": 0.5, "variance_weight": 1.0, **kw})


def test_loss_matches_the_authors_formula_by_loops_over_pairs() -> None:
    graphs = [_config(), _config(n=21, seed=1)]
    batch = Batch.from_data_list(graphs)
    # propensities around the threshold 0.44, where tanh and the sigmoid form agree
    batch.y = (0.44 + 0.15 * torch.randn(batch.y.shape, dtype=torch.float64) - MEAN) / STD
    preds = (0.44 + 0.1 * torch.randn(batch.y.shape, dtype=torch.float64) - MEAN) / STD
    loss = glass_mlp_losses(preds, batch, [0, 1], MEAN, STD, POINT_LOSSES["mae"], _terms())[0]
    expect = []
    for k, data in enumerate(graphs):
        for s in (0, 1):
            m = (batch.batch == k) & (batch.species == s)
            pos, box = data.pos.double().numpy()[(data.species == s).numpy()], 7.0
            for t in range(3):
                y, yhat = batch.y[m, t].numpy(), preds[m, t].numpy()
                a, b = float(STD[t]), float(MEAN[t])
                p_true, p_pred = y * a + b, yhat * a + b
                mae = np.abs(y - yhat).mean()
                expect.append(mae + _authors_loss(p_pred, p_true, pos, box))
    assert float(loss) == pytest.approx(float(np.mean(expect)), rel=1e-9)
    free = glass_mlp_losses(preds, batch, [0], MEAN, STD, POINT_LOSSES["mae"], None)[0]
    m0 = [(batch.batch == k) & (batch.species == 0) for k in range(2)]
    per_cfg = [(preds[m] - batch.y[m]).abs().mean() for m in m0]
    assert float(free) == pytest.approx(float(sum(per_cfg) / 2), rel=1e-12)


def _grad(preds: torch.Tensor, batch: Batch, terms: CorrelationTerms) -> tuple[float, torch.Tensor]:
    preds = preds.clone().requires_grad_(True)
    loss = glass_mlp_losses(preds, batch, [0, 1], MEAN, STD, POINT_LOSSES["mae"], terms)[0]
    loss.backward()
    return float(loss.detach()), preds.grad


def test_gradients_are_finite() -> None:
    batch = Batch.from_data_list([_config(), _config(seed=2)])
    loss, grad = _grad(torch.randn(batch.y.shape, dtype=torch.float64), batch, _terms())
    assert np.isfinite(loss) and torch.isfinite(grad).all() and grad.abs().sum() > 0
    batch32 = Batch.from_data_list([_config(), _config(seed=2)])
    loss, grad = _grad(torch.randn(batch32.y.shape), batch32, _terms())
    assert np.isfinite(loss) and torch.isfinite(grad).all()


@pytest.mark.parametrize("level", [0.05, 2.5])
def test_nobody_or_everybody_mobile_is_still_exact(level: float) -> None:
    """Early times (q ~ 1e-7 everywhere) and late times (1 - q ~ 1e-30, where 1 - q is
    lost in a plain sigmoid): C is that of the small side, in the independent check
    computed with expit (C is the same for q and 1 - q)."""
    from scipy.special import expit

    data = _config(n=18)
    batch = Batch.from_data_list([data])
    g = torch.Generator().manual_seed(4)
    phys = level + 0.03 * torch.randn(18, 3, generator=g, dtype=torch.float64)
    dq, flat = soft_mobility_fluctuation(phys, 0.44, 20.0)
    assert not flat.any()
    r = pair_distances(data.pos.double(), data.box[0].double())
    c = mobility_correlation(dq, r, (2.0, 4.0, 6.0))
    x = 40.0 * (phys.numpy() - 0.44)
    small = expit(x) if level < 0.44 else expit(-x)
    dsmall = small - small.mean(0)
    rn = r.numpy()
    for t in range(3):
        for k, d in enumerate((2.0, 4.0, 6.0)):
            w = np.exp(-((rn - d) ** 2) / 2)
            expect = (dsmall[:, t] * (w @ dsmall[:, t]) / w.sum(1)).sum() / (
                dsmall[:, t] ** 2
            ).sum()
            assert float(c[k, t]) == pytest.approx(expect, rel=1e-7)
    loss, grad = _grad((phys - MEAN) / STD, batch, _terms())
    assert np.isfinite(loss) and torch.isfinite(grad).all()


def test_guards_when_mobility_does_not_fluctuate() -> None:
    batch = Batch.from_data_list([_config(n=18)])
    # the truth is one value for every particle: no correlation to match, no variance
    batch.y = torch.zeros(18, 3, dtype=torch.float64)
    preds = torch.randn(18, 3, dtype=torch.float64)
    loss, grad = _grad(preds, batch, _terms())
    mae = [(preds[batch.species == s] - 0).abs().mean() for s in (0, 1)]
    assert loss == pytest.approx(float(sum(mae) / 2), rel=1e-12)
    assert torch.isfinite(grad).all()
    # constant predictions (a collapsed network) and far-out propensities (q = 1 - 0 in
    # float64): C_pred = 0, finite loss and gradients
    batch.y = torch.randn(18, 3, dtype=torch.float64)
    for value in (0.0, (50.0 - MEAN) / STD):
        constant = torch.zeros(18, 3, dtype=torch.float64) + value
        loss, grad = _grad(constant, batch, _terms())
        assert np.isfinite(loss) and torch.isfinite(grad).all()
    _, flat = soft_mobility_fluctuation(torch.full((5, 1), 50.0, dtype=torch.float64), 0.44, 20)
    assert bool(flat.all())


def test_the_loss_splits_per_network_and_each_part_moves_only_its_network() -> None:
    batch = Batch.from_data_list([_graph(), _graph(seed=1), _graph(seed=2)])
    net = GlassMLP(num_species=2, num_targets=3, num_node_features=7)
    preds = net(batch)
    mean, std = torch.tensor([0.3, 0.45, 0.6]), torch.tensor([0.1, 0.05, 0.2])
    args = (batch, [0, 1], mean, std, POINT_LOSSES["mae"], _terms())
    loss, sums, counts = glass_mlp_losses(preds, *args)
    assert counts.tolist() == [[3.0] * 3] * 2
    # the scalar is the mean of the networks' losses (every configuration has both species)
    torch.testing.assert_close(loss.detach(), (sums / counts).mean())
    box = batch.box.reshape(3, -1)
    for k in (0, 1):
        direct = []
        for g in range(3):
            sel = (batch.batch == g) & (batch.species == k)
            direct.append(
                configuration_loss(
                    preds[sel], batch.y[sel], mean, std, batch.pos[sel], box[g], *args[4:]
                )
            )
        torch.testing.assert_close(sums[k] / counts[k], torch.stack(direct).mean(0).detach())
    # each network's loss depends on its own weights only
    sel = (batch.batch == 0) & (batch.species == 1)
    part = configuration_loss(
        preds[sel], batch.y[sel], mean, std, batch.pos[sel], box[0], *args[4:]
    )[2]
    grads = torch.autograd.grad(part, list(net.parameters()), allow_unused=True)
    touched = {
        id(q)
        for q, g in zip(net.parameters(), grads, strict=True)
        if g is not None and g.abs().sum() > 0
    }
    assert touched == {id(q) for q in net.network_for(1, 2).parameters()}
    # the pooled loss of the plain path, split per species and time
    p_sums, p_counts = pooled_network_losses(
        preds, batch.y, batch.species, [0, 1], POINT_LOSSES["mae"]
    )
    for k in (0, 1):
        m = batch.species == k
        torch.testing.assert_close(
            p_sums[k] / p_counts[k], (preds[m] - batch.y[m]).abs().mean(0).detach()
        )


def test_loss_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="correlation_distances"):
        _terms(distances=(2.0,))
    with pytest.raises(ValueError, match="mobility_sharpness"):
        _terms(sharpness=0.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        _terms(variance_weight=-1.0)


def test_module_losses(caplog) -> None:
    info = DataInfo(
        3, 2, [0, 1, 2], None, 1, [0.3, 0.45, 0.6], [0.1, 0.05, 0.2], [0, 1], num_node_features=7
    )
    batch = Batch.from_data_list([_graph(), _graph(seed=1)])
    mae = PropensityModule(GlassMLP, torch.optim.Adam, info, loss="mae")
    assert isinstance(mae.net, GlassMLP)  # num_node_features reached the factory
    preds = mae(batch)
    m = torch.isin(batch.species, torch.tensor([0, 1]))
    torch.testing.assert_close(mae._loss(preds, batch), (preds[m] - batch.y[m]).abs().mean())
    full = PropensityModule(
        GlassMLP, torch.optim.Adam, info, loss="mae", correlation_weight=0.5, variance_weight=1.0
    )
    assert full.terms is not None and full.terms.distances == (2.0, 4.0, 6.0)
    mean, std = full.target_mean, full.target_std
    expect = glass_mlp_losses(preds, batch, [0, 1], mean, std, POINT_LOSSES["mae"], full.terms)[0]
    torch.testing.assert_close(full._loss(preds, batch), expect)
    full.use_correlation_terms = False  # the free loss of the first phases
    free = glass_mlp_losses(preds, batch, [0, 1], mean, std, POINT_LOSSES["mae"], None)[0]
    torch.testing.assert_close(full._loss(preds, batch), free)
    info2d = DataInfo(2, 2, [0], None, 0, [0.0], [1.0], [0], num_node_features=7)
    two = PropensityModule(GlassMLP, torch.optim.Adam, info2d, loss="mae", correlation_weight=0.5)
    assert two.terms.distances == (2.0, 5.0, 8.0)
    inherent = DataInfo(**{**info.to_dict(), "positions": "inherent"})
    with caplog.at_level(logging.WARNING, logger="glassml.training.module"):
        PropensityModule(GlassMLP, torch.optim.Adam, inherent, correlation_weight=0.5)
    assert "the authors use the thermal ones" in caplog.text
    with pytest.raises(ValueError, match=r"model\.loss='huber'"):
        PropensityModule(GlassMLP, torch.optim.Adam, info, loss="huber")
    with pytest.raises(ValueError, match="must be >= 0"):
        PropensityModule(GlassMLP, torch.optim.Adam, info, correlation_weight=-0.5)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("native")
    write_synthetic_dataset(path, n_configs=6, n_particles=150, n_times=3)
    return path


SHORT_PHASES = (
    "callbacks.training_phases.phases=[{epochs:2,lr:1e-3,correlation:false,patience:null},"
    "{epochs:3,lr:1e-3,correlation:true,patience:2}]"
)


def _glass_mlp_run(root, *extra: str) -> list[str]:
    return [
        "experiment=sample_glass_mlp",
        "dataset=generated",
        f"dataset.root={root}",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        *extra,
    ]


def test_fast_dev_run_with_the_phases(root, tmp_path) -> None:
    cfg = compose_config("train", _glass_mlp_run(root, "trainer.fast_dev_run=true"), tmp_path)
    assert cfg.model.loss == "mae" and cfg.model.correlation_weight == 0.5
    assert len(cfg.callbacks.training_phases.phases) == 4
    train(cfg)
    assert (tmp_path / "test_metrics.json").is_file()


def test_trains_through_glassml_train_and_tests_the_last_phase_best(root, tmp_path) -> None:
    cfg = compose_config("train", _glass_mlp_run(root, SHORT_PHASES), tmp_path)
    train(cfg)
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["pearson"]["model"]["A"]["pooled"][0] is not None
    assert report["pearson"]["model"]["B"]["pooled"][0] is not None  # both species trained
    ckpt = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=False)
    info = ckpt["glassml"]["data_info"]
    assert info["num_node_features"] == len(info["node_feature_names"]) > 50
    # the kept checkpoint is from the last phase (epochs 2-4), never the free-loss phase
    assert 2 <= ckpt["epoch"] <= 4
    selection = next(v for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k)
    assert selection["monitor"] == "val/last_phase_score"
    assert np.isfinite(float(selection["best_model_score"]))
    # the tested checkpoint is the composite of every network's best epoch: the final
    # weights (last.ckpt), scored minus its validation loss (the mean of the networks')
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    for k, v in last["state_dict"].items():
        torch.testing.assert_close(ckpt["state_dict"][k], v)
    last_selection = next(v for k, v in last["callbacks"].items() if "ModelCheckpoint" in k)
    assert last_selection["best_model_path"] == selection["best_model_path"]
    assert float(last_selection["best_model_score"]) == float(selection["best_model_score"])
    dm = instantiate(cfg.dataset)
    dm.setup()
    module = instantiate(cfg.model, data_info=dm.info)
    module.load_state_dict(ckpt["state_dict"])
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    val_loss = trainer.validate(module, datamodule=dm, verbose=False)[0]["val/loss"]
    assert float(selection["best_model_score"]) == pytest.approx(-val_loss, rel=1e-5)
    torch.testing.assert_close(
        module.val_network_losses.mean(),
        torch.tensor(val_loss, dtype=torch.float64),
        rtol=1e-5,
        atol=0,
    )
