"""GlassMLP's linear mobility (model.mobility=linear), as the authors' KA 2D bond-breaking
run: the loss against loops over all pairs, against their formulation on their label
C_loc = 1 - bb_prop, its guards, the config checks, old checkpoints, and
experiment=jung2023_ka2d through glassml-train and glassml-evaluate on small
GlassBench-2D-layout files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict
from scipy.spatial.distance import pdist, squareform
from torch_geometric.data import Batch, Data

from glassml.cli.evaluate import run as evaluate
from glassml.data.datamodule import DataInfo
from glassml.evaluation.evaluate import load_module
from glassml.models.glass_mlp import GlassMLP
from glassml.training.glass_mlp_loss import (
    CorrelationTerms,
    configuration_loss,
    glass_mlp_losses,
    linear_mobility_fluctuation,
    soft_mobility_fluctuation,
)
from glassml.training.module import POINT_LOSSES, PropensityModule
from glassml.training.train import train

from ..data.real_layouts import write_glassbench
from ..glass_mlp_reference import loop_mobility_correlation
from ..hydra_helpers import compose_config

BOX = 9.0
SHELLS_2D = (2.0, 5.0, 8.0)
MEAN = torch.tensor([0.10, 0.40, 0.70], dtype=torch.float64)
STD = torch.tensor([0.08, 0.20, 0.15], dtype=torch.float64)


def _config2d(n: int = 26, seed: int = 0, t: int = 3) -> Data:
    """Random 2D positions in a square box, three species; y: standardised bond-breaking
    fractions in [0, 1] (physical p = y * STD + MEAN)."""
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, t, generator=g, dtype=torch.float64) * torch.tensor([0.3, 0.8, 1.0])
    return Data(
        pos=torch.rand(n, 2, generator=g, dtype=torch.float64) * BOX,
        box=torch.full((1, 2), BOX, dtype=torch.float64),
        species=torch.arange(n) % 3,
        y=(p - MEAN) / STD,
        num_nodes=n,
    )


def _linear(**kw) -> CorrelationTerms:
    args = {"correlation_weight": 0.5, "variance_weight": 1.0, "distances": SHELLS_2D}
    return CorrelationTerms(
        **{**args, "threshold": None, "sharpness": None, "mobility": "linear", **kw}
    )


def _corr_by_loops(q: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return loop_mobility_correlation(q, pos, BOX, SHELLS_2D)


def test_linear_loss_matches_loops_over_pairs() -> None:
    """q = p: C(d) of the physical target itself (no threshold, no tanh)."""
    graphs = [_config2d(), _config2d(n=22, seed=1)]
    batch = Batch.from_data_list(graphs)
    g = torch.Generator().manual_seed(7)
    preds = batch.y + 0.7 * torch.randn(batch.y.shape, generator=g, dtype=torch.float64)
    loss = glass_mlp_losses(preds, batch, [0, 1, 2], MEAN, STD, POINT_LOSSES["mae"], _linear())[0]
    expect = []
    for k, data in enumerate(graphs):
        for s in (0, 1, 2):
            m = (batch.batch == k) & (batch.species == s)
            pos = data.pos.numpy()[(data.species == s).numpy()]
            for t in range(3):
                y, yhat = batch.y[m, t].numpy(), preds[m, t].numpy()
                a, b = float(STD[t]), float(MEAN[t])
                p_true, p_pred = y * a + b, yhat * a + b
                ct, cp = _corr_by_loops(p_true, pos), _corr_by_loops(p_pred, pos)
                corr = np.abs(ct - cp).sum() / abs(ct[0] - ct[-1])
                var = abs(p_pred.var() - p_true.var()) / p_true.var()
                expect.append(np.abs(y - yhat).mean() + 0.5 * corr + 1.0 * var)
    assert float(loss) == pytest.approx(float(np.mean(expect)), rel=1e-9)


def _their_bb_loss(c_pred, c_true, pos, var_rescale):
    """Their KA 2D `loss_carrier(1.0, 0.5, 1.0)` for 'BB' on one configuration of one
    species, written as their script computes it: labels C_loc, y_mod = 1 - y, distances by
    pdist per dimension with the wrap, Gaussian shells 2, 5, 8, matvec over rows."""
    dist_sq = np.zeros(len(pos) * (len(pos) - 1) // 2)
    for dim in range(2):
        d1 = pdist(pos[:, dim][:, None])
        d1[d1 > BOX * 0.5] -= BOX
        d1[d1 < -BOX * 0.5] += BOX
        dist_sq += d1**2
    dist = squareform(np.sqrt(dist_sq))
    shells = [np.exp(-((dist - d) ** 2) * 0.5) for d in SHELLS_2D]

    def corr(mod):
        fl = mod - mod.mean()
        return np.array([((w @ fl) / w.sum(1) * fl).sum() / (fl * fl).sum() for w in shells])

    loss1 = np.abs(c_true - c_pred).mean() / var_rescale
    res_true, res = corr(1.0 - c_true), corr(1.0 - c_pred)
    loss2 = np.abs((res_true - res) / (res_true[0] - res_true[2])).sum()
    loss4 = abs(c_pred.var() - c_true.var()) / c_true.var()
    return loss1, loss2, loss4


def test_linear_mobility_on_bb_prop_is_their_loss_on_one_minus_the_label() -> None:
    """Trained on the fraction of broken bonds p with q = p, each term equals theirs on
    C_loc = 1 - p with q = 1 - C_loc: MAE, correlation and variance are unchanged by
    p -> 1 - p. The soft mobility is not, so the check can tell the two apart."""
    data = _config2d(n=40, seed=3)
    g = torch.Generator().manual_seed(11)
    preds = data.y + 0.5 * torch.randn(data.y.shape, generator=g, dtype=torch.float64)
    # the per-particle term over the species' own std, as the module scales it
    species_std = torch.tensor([0.05, 0.3, 0.12], dtype=torch.float64)
    scale = STD / species_std
    for s in (0, 1, 2):
        m = data.species == s
        args = (MEAN, STD, data.pos[m], data.box[0], POINT_LOSSES["mae"])
        part = {
            name: configuration_loss(preds[m], data.y[m], *args, terms, scale)
            for name, terms in [
                ("mae", None),
                ("corr", _linear(variance_weight=0.0)),
                ("var", _linear(correlation_weight=0.0)),
            ]
        }
        pos = data.pos.numpy()[m.numpy()]
        for t in range(3):
            p_true = (data.y[m, t] * STD[t] + MEAN[t]).numpy()
            p_pred = (preds[m, t] * STD[t] + MEAN[t]).numpy()
            mae, corr, var = _their_bb_loss(1 - p_pred, 1 - p_true, pos, float(species_std[t]))
            assert float(part["mae"][t]) == pytest.approx(mae, rel=1e-9)
            assert float(part["corr"][t] - part["mae"][t]) == pytest.approx(0.5 * corr, rel=1e-9)
            assert float(part["var"][t] - part["mae"][t]) == pytest.approx(var, rel=1e-9)
        # the same loss on the stored label C_loc itself (either convention of the file)
        flipped = ((1 - (data.y * STD + MEAN)) - (1 - MEAN)) / STD
        flip_pred = ((1 - (preds * STD + MEAN)) - (1 - MEAN)) / STD
        flip_args = (1 - MEAN, STD, *args[2:])
        torch.testing.assert_close(
            configuration_loss(flip_pred[m], flipped[m], *flip_args, _linear(), scale),
            configuration_loss(preds[m], data.y[m], *args, _linear(), scale),
        )
        soft = CorrelationTerms(0.5, 0.0, SHELLS_2D, 0.4, 20.0)
        a = configuration_loss(flip_pred[m], flipped[m], *flip_args, soft, scale)
        b = configuration_loss(preds[m], data.y[m], *args, soft, scale)
        assert not torch.allclose(a, b)


def test_linear_mobility_guards() -> None:
    # a column that does not fluctuate (every bond intact, or one value everywhere) is flat
    p = torch.tensor([[0.0, 0.3, 0.0], [0.0, 0.3, 0.0], [0.0, 0.3, 0.5]], dtype=torch.float64)
    dq, flat = linear_mobility_fluctuation(p)
    assert flat.tolist() == [True, True, False]
    assert dq[:, :2].abs().max() == 0 and dq[:, 2].abs().max() == 1.0
    # early times: almost no bond broken; C of a few broken bonds is exact
    data = _config2d(n=30, seed=5)
    phys = torch.zeros(30, 3, dtype=torch.float64)
    phys[[2, 7, 19], :] = torch.tensor([1 / 6, 1 / 5, 1 / 7], dtype=torch.float64)[:, None]
    batch = Batch.from_data_list([data])
    batch.y = (phys - MEAN) / STD
    preds = torch.zeros_like(batch.y, requires_grad=True)  # a collapsed network
    loss = glass_mlp_losses(preds, batch, [0, 1, 2], MEAN, STD, POINT_LOSSES["mae"], _linear())[0]
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(preds.grad).all()
    # the truth does not fluctuate: no correlation term, no variance term, only the MAE
    batch.y = torch.zeros_like(batch.y)
    free = torch.randn(batch.y.shape, dtype=torch.float64, requires_grad=True)
    loss = glass_mlp_losses(free, batch, [0, 1, 2], MEAN, STD, POINT_LOSSES["mae"], _linear())[0]
    loss.backward()
    mae = [free[batch.species == s].abs().mean() for s in (0, 1, 2)]
    assert float(loss.detach()) == pytest.approx(float(sum(mae) / 3), rel=1e-12)
    assert torch.isfinite(free.grad).all()
    # the soft path is unchanged by the option
    dq_soft, _ = soft_mobility_fluctuation(p + 0.4, 0.44, 20.0)
    dq_terms, _ = CorrelationTerms().fluctuation(p + 0.4)
    torch.testing.assert_close(dq_soft, dq_terms)


def _info() -> DataInfo:
    return DataInfo(2, 3, [0], None, 0, [0.3], [0.1], [0, 1, 2], num_node_features=7)


def test_mobility_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"model\.mobility='tanh'.*\['soft', 'linear'\]"):
        CorrelationTerms(mobility="tanh")
    # also when neither term is on: the config value is checked, never silently unused
    with pytest.raises(ValueError, match=r"model\.mobility='tanh'"):
        PropensityModule(GlassMLP, torch.optim.Adam, _info(), mobility="tanh")
    with pytest.raises(ValueError, match=r"model\.mobility_threshold=None.*mobility=soft"):
        PropensityModule(
            GlassMLP, torch.optim.Adam, _info(), correlation_weight=0.5, mobility_threshold=None
        )
    linear = PropensityModule(
        GlassMLP,
        torch.optim.Adam,
        _info(),
        correlation_weight=0.5,
        variance_weight=1.0,
        mobility="linear",
        mobility_threshold=None,
        mobility_sharpness=None,
    )
    assert linear.terms.mobility == "linear" and linear.terms.distances == SHELLS_2D


def test_checkpoints_without_the_key_rebuild_with_the_soft_mobility() -> None:
    """glassml-evaluate rebuilds the module from the run config in the checkpoint: a config
    written before model.mobility existed gets the soft mobility it was trained with."""
    info = _info()
    for experiment, expect in [("jung2023", "soft"), ("jung2023_ka2d", "linear")]:
        cfg = compose_config("train", [f"experiment={experiment}"])
        assert cfg.model.mobility == expect
        module = instantiate(cfg.model, data_info=info)
        assert module.terms.mobility == expect
        ckpt = {"state_dict": module.state_dict()}
        assert load_module(ckpt, cfg, info, "cpu").terms.mobility == expect
    with open_dict(cfg):
        del cfg.model.mobility
        cfg.model.mobility_threshold, cfg.model.mobility_sharpness = 0.44, 20.0
    old = load_module(ckpt, cfg, info, "cpu")
    assert old.terms.mobility == "soft" and old.terms.threshold == 0.44


def test_jung2023_ka2d_trains_on_glassbench_2d_files(tmp_path: Path) -> None:
    """The experiment composes to the authors' KA 2D setting and trains, the last phases
    with the linear-mobility correlation term, on small files in the GlassBench KA 2D
    layout at T = 0.23 (8 time scales)."""
    write_glassbench(tmp_path / "glassbench", 2, 0.23, n_train=4, n_test=2, n_times=8)
    cfg = compose_config(
        "train",
        [
            "experiment=jung2023_ka2d",
            f"paths.data_dir={tmp_path}",
            "trainer=cpu",
            "logger=csv",
            "callbacks.rich_progress_bar=null",
            "callbacks.model_summary=null",
            "callbacks.training_phases.phases=[{epochs:1,lr:1e-3,correlation:false,"
            "patience:null},{epochs:2,lr:1e-3,correlation:true,patience:2}]",
        ],
        tmp_path / "run",
    )
    assert cfg.dataset.target == "bb_prop" and cfg.dataset.temperature == 0.23
    assert list(cfg.dataset.train_species) == [0, 1, 2] and cfg.dataset.positions == "equilibrium"
    assert cfg.dataset.node_features[0].potential == "ka2d_ternary"
    assert not cfg.dataset.shuffle and cfg.dataset.batch_size == 1
    assert cfg.model.mobility == "linear" and cfg.model.correlation_weight == 0.5
    train(cfg)
    report = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert len(report["time_indices"]) == 8
    for species in "ABC":
        assert report["pearson"]["model"][species]["pooled"]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=False)
    assert ckpt["glassml"]["config"]["model"]["mobility"] == "linear"
    assert 1 <= ckpt["epoch"] <= 2  # the last phase's, with the correlation term
    # glassml-evaluate rebuilds it from the checkpoint: bb_prop, the linear mobility
    over = [f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'best.ckpt'}"]
    rep = evaluate(compose_config("evaluate", [*over, "metrics.bootstrap.n_boot=20"], tmp_path))
    assert rep["pearson"]["model"]["C"]["pooled"] == pytest.approx(
        report["pearson"]["model"]["C"]["pooled"], abs=1e-4
    )
