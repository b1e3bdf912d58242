"""GlassMLP's per-particle term is each species' mean absolute error over that species'
own target std (the authors' loss1), although targets are standardised with one std
pooled over the trained species; the data module records the per-species stds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from glassml.data import GlassDataModule
from glassml.data.datamodule import DataInfo
from glassml.data.synthetic import write_synthetic_dataset
from glassml.models.glass_mlp import GlassMLP
from glassml.training.module import PropensityModule


def test_datamodule_records_each_trained_species_target_std(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, n_configs=10, n_particles=40, n_times=3)
    dm = GlassDataModule(str(tmp_path), train_species=[0, 1])
    dm.setup()
    info = dm.info
    assert info is not None and len(info.species_target_std) == 2
    raw = np.concatenate(
        [
            (g.y.numpy() * np.asarray(info.target_std) + np.asarray(info.target_mean))
            for g in dm.datasets["train"].graphs
        ]
    )
    species = np.concatenate([g.species.numpy() for g in dm.datasets["train"].graphs])
    for s in (0, 1):
        expect = raw[species == s].std(axis=0, ddof=1)
        np.testing.assert_allclose(info.species_target_std[s], expect, rtol=1e-5)
    only_a = GlassDataModule(str(tmp_path), train_species=[0])
    only_a.setup()
    assert only_a.info is not None and only_a.info.species_target_std[1] == []


def _batch(seed: int = 0, n: int = 40, t: int = 2) -> Batch:
    g = torch.Generator().manual_seed(seed)
    species = (torch.arange(n) % 4 == 0).long()
    return Batch.from_data_list(
        [
            Data(
                pos=torch.rand(n, 3, generator=g) * 4.0,
                box=torch.full((1, 3), 4.0),
                node_features=torch.randn(n, 5, generator=g),
                species=species,
                y=torch.randn(n, t, generator=g),
                num_nodes=n,
            )
        ]
    )


def test_the_point_term_is_each_species_error_over_its_own_std() -> None:
    mean, pooled = [0.3, 0.5], [0.1, 0.2]
    own = [[0.08, 0.15], [0.2, 0.4]]  # species A, B
    info = DataInfo(
        3, 2, [0, 1], None, 1, mean, pooled, [0, 1], num_node_features=5, species_target_std=own
    )
    module = PropensityModule(
        GlassMLP, torch.optim.Adam, info, loss="mae", correlation_weight=0.0, variance_weight=1.0
    )
    module.use_correlation_terms = False  # the authors' free loss: the per-particle term only
    batch = _batch()
    preds = module(batch)
    loss, sums, counts = module._losses(preds, batch)
    # by hand, in physical units: mean |p - p_hat| / std of the species' training targets
    phys_pred = preds.detach() * torch.tensor(pooled) + torch.tensor(mean)
    phys_true = batch.y * torch.tensor(pooled) + torch.tensor(mean)
    for s in (0, 1):
        m = batch.species == s
        err = (phys_pred[m] - phys_true[m]).abs().mean(0) / torch.tensor(own[s])
        torch.testing.assert_close(sums[s] / counts[s], err, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss.detach(), (sums / counts).mean(), rtol=1e-6, atol=1e-7)
    # the authors' free model (both weights 0) keeps this per-configuration, per-species form
    free = PropensityModule(GlassMLP, torch.optim.Adam, info, loss="mae", per_configuration=True)
    free.load_state_dict(module.state_dict())
    free_loss, free_sums, _ = free._losses(free(batch), batch)
    torch.testing.assert_close(free_sums, sums)
    torch.testing.assert_close(free_loss, loss)
    # otherwise zero weights give the per-particle loss pooled over the trained particles
    plain_mae = PropensityModule(GlassMLP, torch.optim.Adam, info, loss="mae")
    plain_mae.load_state_dict(module.state_dict())
    m = torch.isin(batch.species, torch.tensor([0, 1]))
    torch.testing.assert_close(
        plain_mae._losses(plain_mae(batch), batch)[0], (preds[m] - batch.y[m]).abs().mean()
    )
    # without per-species stds (e.g. older checkpoints) the pooled std is used
    plain = DataInfo(3, 2, [0, 1], None, 1, mean, pooled, [0, 1], num_node_features=5)
    module2 = PropensityModule(
        GlassMLP, torch.optim.Adam, plain, loss="mae", correlation_weight=0.0, variance_weight=1.0
    )
    torch.testing.assert_close(module2.point_scale, torch.ones(2, 2))
