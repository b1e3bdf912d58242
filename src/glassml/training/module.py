"""LightningModule wrapping any per-particle model: masked loss, optimiser, Pearson metrics.

Models stay plain `nn.Module`s (DESIGN.md); everything about training lives here. The
module is built from config with the network as a partial, completed with what only
the data knows (dimension, number of species, number of time scales).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch_geometric.data import Batch

from glassml.data.datamodule import DataInfo
from glassml.training.glass_mlp_loss import (
    DEFAULT_DISTANCES,
    CorrelationTerms,
    check_mobility,
    glass_mlp_losses,
    pooled_network_losses,
)
from glassml.training.metrics import SpeciesPearson
from glassml.training.optim import optimizer_config

log = logging.getLogger(__name__)

NetFactory = Callable[..., nn.Module]

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": nn.functional.mse_loss,
    "mae": nn.functional.l1_loss,  # GlassMLP
}
#: the same, per element (GlassMLP's per-configuration loss reduces them itself)
POINT_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": lambda a, b: (a - b) ** 2,
    "mae": lambda a, b: (a - b).abs(),
}


class PropensityModule(pl.LightningModule):
    """Trains `net` on standardised propensities of the `train_species` particles.

    Logged names (stage = val or test, S = species letter, tNN = time index in the file):
    `{stage}/loss`, `{stage}/pearson_S_tNN` (pooled over the split),
    `{stage}/pearson_cfg_S_tNN` (mean of per-configuration Pearsons),
    `{stage}/pearson_S_tau` (pooled, at the time closest to tau_alpha),
    `{stage}/pearson_S_mean` (pooled, averaged over time scales) and the same two for the
    per-configuration mean, `{stage}/pearson_cfg_S_tau` and `{stage}/pearson_cfg_S_mean`
    (Bapst et al. chose checkpoints by the latter at their one time scale). Species that
    no loss trains (not in `train_species`) get no metrics.

    With `correlation_weight` or `variance_weight` > 0 the loss is GlassMLP's
    (glassml.training.glass_mlp_loss): per configuration, trained species and time scale,
    the per-particle term plus the weighted mobility-correlation and variance terms,
    averaged; `mobility` is the mobility of the correlation term (`soft`: the authors'
    tanh step at `mobility_threshold`, `mobility_sharpness`; `linear`: the target itself).
    Checkpoints rebuild the module from the run config, so one written before `mobility`
    existed gets the default, soft, which it was trained with. `use_correlation_terms`
    (set by glassml.training.phases.TrainingPhases) switches the two terms off, leaving the
    per-configuration per-particle term (the authors' "free" loss). `per_configuration`
    keeps that per-configuration, per-species form even when both weights are 0
    (GlassMLP's free model); otherwise the loss is the per-particle loss pooled over the
    batch's trained particles.

    Every validation epoch also gives the loss of every network (trained species, time
    scale), `val_network_losses` [S, T]: the mean over the validation configurations of
    that network's term (the pooled loss per species and time without GlassMLP's terms),
    NaN where no particle was seen. val/loss stays the scalar; TrainingPhases selects each
    network's weights on its own entry (glassml.training.phases).
    """

    def __init__(
        self,
        net: NetFactory | nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        data_info: DataInfo | dict[str, Any],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        loss: str = "mse",
        correlation_weight: float = 0.0,
        variance_weight: float = 0.0,
        correlation_distances: list[float] | None = None,
        mobility_threshold: float | None = 0.44,
        mobility_sharpness: float | None = 20.0,
        per_configuration: bool = False,
        mobility: str = "soft",
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"model.loss={loss!r}: expected one of {sorted(LOSSES)}")
        self.loss_name = loss
        info = data_info if isinstance(data_info, DataInfo) else DataInfo.from_dict(data_info)
        self.info = info
        self.terms = self._correlation_terms(
            correlation_weight,
            variance_weight,
            correlation_distances,
            mobility_threshold,
            mobility_sharpness,
            mobility,
        )
        self.per_configuration = bool(per_configuration) or self.terms is not None
        #: switched by the training phases (glassml.training.phases)
        self.use_correlation_terms = True
        if isinstance(net, nn.Module):
            self.net = net
        else:
            extra = {"num_node_features": info.num_node_features} if info.num_node_features else {}
            self.net = net(
                dim=info.dim, num_species=info.num_species, num_targets=info.num_targets, **extra
            )
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.register_buffer("train_species", torch.tensor(info.train_species, dtype=torch.long))
        self.register_buffer("target_mean", torch.tensor(info.target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(info.target_std, dtype=torch.float32))
        self.register_buffer("point_scale", self._point_scale(info))
        # metrics only for the species a loss trains: the other outputs predict nothing
        species = info.trained_species
        untrained = info.species_left_out(species)
        if untrained:
            log.info(
                "species %s not in dataset.train_species: no metrics reported for them "
                "(dataset.train_species=all trains and reports every species)",
                ", ".join(untrained),
            )
        self.metrics = nn.ModuleDict(
            {
                "val": SpeciesPearson(species, info.num_targets),
                "test": SpeciesPearson(species, info.num_targets),
            }
        )
        #: validation loss of every network [trained species, time] of the last validation
        #: epoch (NaN: no particle); read by glassml.training.phases.TrainingPhases
        self.val_network_losses: torch.Tensor | None = None
        self._network_sums = torch.zeros(0)
        self._network_counts = torch.zeros(0)
        #: Resolved run config, stored in checkpoints so `glassml-evaluate` can rebuild.
        self.run_config: dict[str, Any] | None = None

    # ------------------------------------------------------------------ steps

    def forward(self, batch: Batch) -> torch.Tensor:
        """Standardised predictions [num_nodes, num_targets]."""
        return self.net(batch)

    def predict_physical(self, batch: Batch) -> torch.Tensor:
        """Predictions in the units of the targets (undoing the standardisation)."""
        return self(batch) * self.target_std + self.target_mean

    def _correlation_terms(
        self,
        correlation_weight: float,
        variance_weight: float,
        distances: list[float] | None,
        threshold: float | None,
        sharpness: float | None,
        mobility: str,
    ) -> CorrelationTerms | None:
        """GlassMLP's extra terms, or None when both weights are 0 (plain pooled loss).
        `mobility` (soft or linear, glass_mlp_loss.MOBILITIES) is checked in either case."""
        check_mobility(mobility)
        if correlation_weight < 0 or variance_weight < 0:
            raise ValueError(
                "model.correlation_weight and model.variance_weight must be >= 0, got "
                f"{correlation_weight} and {variance_weight}"
            )
        if correlation_weight == 0 and variance_weight == 0:
            return None
        if distances is None:
            if self.info.dim not in DEFAULT_DISTANCES:
                raise ValueError(
                    f"model.correlation_distances=null has no default in {self.info.dim}D: "
                    "give a list"
                )
            distances = list(DEFAULT_DISTANCES[self.info.dim])
        if correlation_weight > 0 and self.info.positions != "equilibrium":
            log.warning(
                "the mobility-correlation term uses the dataset's positions "
                "(dataset.positions=%s); the authors use the thermal ones (equilibrium)",
                self.info.positions,
            )
        return CorrelationTerms(
            float(correlation_weight),
            float(variance_weight),
            tuple(float(d) for d in distances),
            None if threshold is None else float(threshold),
            None if sharpness is None else float(sharpness),
            mobility,
        )

    @staticmethod
    def _point_scale(info: DataInfo) -> torch.Tensor:
        """[species, T] factors that turn the per-particle error of the (pooled)
        standardised targets into that error over each species' own target std, as
        GlassMLP's authors scale it: target_std / species_target_std (1 where unknown)."""
        scale = torch.ones(info.num_species, info.num_targets)
        for s, row in enumerate(info.species_target_std):
            if row:
                scale[s] = torch.tensor(info.target_std, dtype=torch.float64) / torch.tensor(
                    row, dtype=torch.float64
                )
        return scale.float()

    def _loss(self, preds: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The training loss (no split per network: only validation needs it)."""
        if self.per_configuration:
            return self._per_configuration_losses(preds, batch)[0]
        mask = torch.isin(batch.species, self.train_species)
        return LOSSES[self.loss_name](preds[mask], batch.y[mask])

    def _losses(
        self, preds: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss and its parts per network: sums and counts [S, T] over the trained
        species (rows, `network_grid`) and time scales (glass_mlp_loss.glass_mlp_losses,
        pooled_network_losses)."""
        if self.per_configuration:
            return self._per_configuration_losses(preds, batch)
        sums, counts = pooled_network_losses(
            preds, batch.y, batch.species, self.info.trained_species, POINT_LOSSES[self.loss_name]
        )
        return self._loss(preds, batch), sums, counts

    def _per_configuration_losses(
        self, preds: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """GlassMLP's loss per configuration and species, with its parts per network."""
        return glass_mlp_losses(
            preds,
            batch,
            self.info.trained_species,
            self.target_mean,
            self.target_std,
            POINT_LOSSES[self.loss_name],
            self.terms if self.use_correlation_terms else None,
            self.point_scale,
        )

    @property
    def network_grid(self) -> tuple[list[int], int]:
        """(trained species, number of time scales): the rows and columns of
        `val_network_losses`, the (species, time) a network's `network_for` is asked for."""
        return list(self.info.trained_species), self.info.num_targets

    def network_label(self, species: int, time: int) -> str:
        """Name of the network of (species, time) in logs, e.g. A_t03."""
        return f"{self.info.species_names[species]}_{self.info.time_label(time)}"

    def on_fit_start(self) -> None:
        """Closed-form models (ridge) are fitted here, on the datamodule's training split."""
        fit = getattr(self.net, "fit_closed_form", None)
        datamodule = getattr(self.trainer, "datamodule", None)
        if fit is not None and datamodule is not None:
            fit(datamodule)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        loss = self._loss(self(batch), batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=batch.num_graphs)
        if getattr(self.net, "closed_form", False):
            return None  # fitted in on_fit_start: no gradient steps
        return loss

    def on_train_epoch_end(self) -> None:
        if getattr(self.net, "closed_form", False):
            self.trainer.should_stop = True  # one epoch: validation, checkpoint, done

    def _eval_step(self, batch: Batch, stage: str) -> None:
        preds = self(batch)
        loss, sums, counts = self._losses(preds, batch)
        # sync_dist: under DDP the epoch loss is averaged over all ranks, not rank 0's shard
        # (the Pearson metrics sync their own states)
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=batch.num_graphs, sync_dist=True)
        self.metrics[stage].update(preds, batch.y, batch.species, batch.batch)
        if stage == "val":
            self._network_sums = self._network_sums + sums.to(self._network_sums)
            self._network_counts = self._network_counts + counts.to(self._network_counts)

    def on_validation_epoch_start(self) -> None:
        rows, times = self.network_grid
        self._network_sums = torch.zeros(len(rows), times, dtype=torch.float64, device=self.device)
        self._network_counts = torch.zeros_like(self._network_sums)

    def _network_losses_of_epoch(self) -> torch.Tensor:
        """The validation loss of every network [S, T] (NaN where no particle of its
        species was seen), summed over all ranks under DDP."""
        sums, counts = self._network_sums, self._network_counts
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
            counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        nan = torch.full_like(sums, math.nan)
        return torch.where(counts > 0, sums / counts.clamp_min(1), nan)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _log_metrics(self, stage: str) -> None:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        logs = {}
        for (kind, s), r in values.items():
            name = self.info.species_names[s]
            prefix = (
                f"{stage}/pearson_cfg_{name}" if kind == "per_config" else f"{stage}/pearson_{name}"
            )
            for k in range(r.shape[0]):
                if not math.isnan(float(r[k])):
                    logs[f"{prefix}_{self.info.time_label(k)}"] = float(r[k])
            if not math.isnan(float(r[self.info.tau_position])):
                short = f"{stage}/pearson_{name}" if kind == "pooled" else prefix
                logs[f"{short}_tau"] = float(r[self.info.tau_position])
                logs[f"{short}_mean"] = float(torch.nanmean(r))
        if logs:
            self.log_dict(logs)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")
        self.val_network_losses = self._network_losses_of_epoch()

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    # ------------------------------------------------------------------ optimisation

    def configure_optimizers(self) -> Any:
        return optimizer_config(
            self.parameters(),
            self.optimizer_factory,
            self.scheduler_factory,
            self.scheduler_interval,
            self.scheduler_monitor,
        )

    # ------------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["glassml"] = {"data_info": self.info.to_dict(), "config": self.run_config}
