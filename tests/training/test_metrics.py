"""Pearson metrics against scipy, species masking, and the masked loss."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from glassml.data.datamodule import DataInfo
from glassml.models import BapstGNN
from glassml.training.metrics import PerConfigPearson, SpeciesPearson
from glassml.training.module import PropensityModule


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    n, t = 600, 3
    preds = torch.randn(n, t, generator=g, dtype=torch.float64)
    target = 0.7 * preds + torch.randn(n, t, generator=g, dtype=torch.float64)
    species = (torch.rand(n, generator=g) < 0.25).long()
    group = torch.arange(n) // 100
    return preds, target, species, group


def test_pooled_and_per_config_equal_scipy(data) -> None:
    preds, target, species, group = data
    metric = SpeciesPearson([0, 1], 3)
    for k in range(6):  # one configuration per update, as graph batches deliver them
        m = group == k
        metric.update(preds[m], target[m], species[m], group[m])
    out = metric.compute()
    for s in (0, 1):
        sel = (species == s).numpy()
        p, y, gr = preds.numpy(), target.numpy(), group.numpy()
        pooled = [pearsonr(p[sel, j], y[sel, j])[0] for j in range(3)]
        np.testing.assert_allclose(out[("pooled", s)].numpy(), pooled, rtol=1e-5)
        per_cfg = [
            np.mean([pearsonr(p[sel & (gr == c), j], y[sel & (gr == c), j])[0] for c in range(6)])
            for j in range(3)
        ]
        np.testing.assert_allclose(out[("per_config", s)].numpy(), per_cfg, rtol=1e-5)


def test_species_mask_is_honoured(data) -> None:
    preds, target, species, group = data
    a = SpeciesPearson([0], 3)
    a.update(preds, target, species, group)
    scrambled = target.clone()
    scrambled[species == 1] = torch.randn(int((species == 1).sum()), 3, dtype=torch.float64)
    b = SpeciesPearson([0], 3)
    b.update(preds, scrambled, species, group)
    torch.testing.assert_close(a.compute()[("pooled", 0)], b.compute()[("pooled", 0)])
    torch.testing.assert_close(a.compute()[("per_config", 0)], b.compute()[("per_config", 0)])


def test_single_output_and_batched_groups(data) -> None:
    preds, target, _, group = data
    m = PerConfigPearson(1)
    m.update(preds[:, :1], target[:, :1], group)  # several configurations in one update
    ref = np.mean([pearsonr(preds[group == c, 0], target[group == c, 0])[0] for c in range(6)])
    assert float(m.compute()) == pytest.approx(ref, rel=1e-5)
    s = SpeciesPearson([0, 1], 1)
    s.update(preds[:, :1], target[:, :1], torch.zeros(600, dtype=torch.long), group)
    assert float(s.compute()[("pooled", 0)]) == pytest.approx(
        pearsonr(preds[:, 0], target[:, 0])[0], rel=1e-5
    )
    assert torch.isnan(s.compute()[("pooled", 1)]).all()  # absent species: NaN, dropped later


def _info() -> DataInfo:
    return DataInfo(
        dim=3,
        num_species=2,
        time_indices=[0, 1],
        times=None,
        tau_position=1,
        target_mean=[0.0, 0.0],
        target_std=[1.0, 1.0],
        train_species=[0],
    )


def test_loss_only_sees_train_species() -> None:
    from torch_geometric.data import Batch, Data

    torch.manual_seed(0)
    n = 30
    species = torch.tensor([0, 1] * (n // 2))
    ei = torch.stack([torch.arange(n), torch.arange(n)])
    data = Data(
        x=torch.nn.functional.one_hot(species, 2).float(),
        species=species,
        edge_index=ei,
        edge_attr=torch.zeros(n, 4),
        y=torch.randn(n, 2),
        num_nodes=n,
    )
    module = PropensityModule(
        net=BapstGNN(num_targets=2, hidden=8, n_steps=1),
        optimizer=torch.optim.Adam,
        data_info=_info(),
    )
    batch = Batch.from_data_list([data])
    torch.set_grad_enabled(False)
    loss = module._loss(module(batch), batch)
    other = batch.clone()
    other.y = batch.y.clone()
    other.y[species == 1] += 100.0
    assert float(module._loss(module(other), other)) == pytest.approx(float(loss))
    other.y[species == 0] += 1.0
    assert float(module._loss(module(other), other)) != pytest.approx(float(loss))
    torch.set_grad_enabled(True)
