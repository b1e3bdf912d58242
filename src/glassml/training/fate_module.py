"""LightningModule for domain-fate classification (molecular-sorting lattice gas).

Binary cross-entropy on one logit per domain; ROC-AUC (torchmetrics, exact, synced
across DDP ranks) as the headline metric. The test report puts the model's AUC next to
the AUC of the domain size alone (ranking domains by size, no fitting): the gap is
how much the environment decides the fate beyond the size, i.e. how much it shifts
the critical size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from glassml.sorting.fate import roc_auc
from glassml.training.optim import optimizer_config

NetFactory = Callable[..., nn.Module]


def per_run_auroc(
    y: np.ndarray, score: np.ndarray, size: np.ndarray, run: np.ndarray, min_samples: int = 50
) -> dict[str, Any]:
    """Mean ROC-AUC within single runs (fixed phi, g), model and size alone.

    Pooled AUCs mix runs whose critical sizes differ; within a run, the gap between the
    model and the size is what the surroundings of a domain add to its fate.
    """
    pairs = []
    for r in np.unique(run):
        m = run == r
        if m.sum() >= min_samples and 0 < y[m].mean() < 1:
            pairs.append((roc_auc(y[m], score[m]), roc_auc(y[m], size[m])))
    if not pairs:
        return {}
    arr = np.asarray(pairs)
    return {
        "per_run_count": len(pairs),
        "per_run_auroc_model": float(arr[:, 0].mean()),
        "per_run_auroc_size_alone": float(arr[:, 1].mean()),
    }


class DomainFateModule(pl.LightningModule):
    """Trains `net` to predict extraction (1) vs dissolution (0) of a domain.

    Logged: `{stage}/loss`, `{stage}/auroc`, `{stage}/accuracy` (threshold 1/2) for
    stage in train (loss only), val, test.
    """

    def __init__(
        self,
        net: NetFactory | nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        data_info: dict[str, Any],
        scheduler: Callable[..., Any] | None = None,
        scheduler_monitor: str = "val/loss",
    ) -> None:
        super().__init__()
        if isinstance(data_info, DictConfig):  # instantiate passes dicts as DictConfig
            data_info = OmegaConf.to_container(data_info, resolve=True)
        self.info = dict(data_info)
        if isinstance(net, nn.Module):
            self.net = net
        else:
            self.net = net(
                num_features=self.info["num_features"],
                num_node_features=self.info["num_node_features"],
            )
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_monitor = scheduler_monitor
        self.auroc = nn.ModuleDict({s: BinaryAUROC() for s in ("val", "test")})
        self.accuracy = nn.ModuleDict({s: BinaryAccuracy() for s in ("val", "test")})
        self.run_config: dict[str, Any] | None = None
        self._test_logits: list[torch.Tensor] = []

    def forward(self, batch: Any) -> torch.Tensor:
        return self.net(batch)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = nn.functional.binary_cross_entropy_with_logits(self(batch), batch.y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=batch.num_graphs)
        return loss

    def _eval_step(self, batch: Any, stage: str) -> torch.Tensor:
        logits = self(batch)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, batch.y)
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=batch.num_graphs)
        prob = torch.sigmoid(logits)
        target = batch.y.long()
        self.auroc[stage].update(prob, target)
        self.accuracy[stage].update(prob, target)
        self.log(f"{stage}/auroc", self.auroc[stage], on_epoch=True, batch_size=batch.num_graphs)
        self.log(
            f"{stage}/accuracy", self.accuracy[stage], on_epoch=True, batch_size=batch.num_graphs
        )
        return logits

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._test_logits.append(self._eval_step(batch, "test").detach().cpu())

    def on_test_epoch_start(self) -> None:
        self._test_logits = []

    def configure_optimizers(self) -> Any:
        return optimizer_config(
            self.parameters(),
            self.optimizer_factory,
            self.scheduler_factory,
            monitor=self.scheduler_monitor,
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["glassml"] = {"data_info": self.info, "config": self.run_config}

    # ------------------------------------------------------------------ report

    def test_report(self, trainer: pl.Trainer, datamodule: Any, **_: Any) -> dict[str, Any]:
        """Test AUC of the model next to the size-alone reference (see the module docstring)."""
        test = datamodule.datasets["test"]
        y = test.y.numpy()
        logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
        report: dict[str, Any] = {
            "task": "domain_fate",
            "n_test": int(len(y)),
            "extracted_fraction_test": float(y.mean()),
            "features": datamodule.info["features"],
            "graph": bool(datamodule.graph),
            "auroc_model": logged.get("test/auroc"),
            "accuracy_model": logged.get("test/accuracy"),
            "auroc_size_alone": roc_auc(y, test.size.numpy()),
            "source": datamodule.info["source"],
        }
        if self._test_logits and sum(len(t) for t in self._test_logits) == len(y):
            logits = torch.cat(self._test_logits).numpy()
            # recomputed from the stored logits: an independent check of the logged metric
            report["auroc_model_recomputed"] = roc_auc(y, logits)
            report.update(per_run_auroc(y, logits, test.size.numpy(), test.run))
        return report

    @staticmethod
    def format_report(report: dict[str, Any]) -> str:
        """Terminal table of `test_report`."""

        def fmt(v: Any) -> str:
            return "n/a" if v is None else f"{v:.3f}"

        return "\n".join(
            [
                f"domain fate, test split: {report['n_test']} domains, "
                f"{report['extracted_fraction_test']:.0%} extracted",
                f"  ROC-AUC model      {fmt(report['auroc_model'])}",
                f"  ROC-AUC size alone {fmt(report['auroc_size_alone'])}",
                f"  accuracy model     {fmt(report['accuracy_model'])}",
                f"  within runs ({report.get('per_run_count', 0)}): ROC-AUC model "
                f"{fmt(report.get('per_run_auroc_model'))}, size alone "
                f"{fmt(report.get('per_run_auroc_size_alone'))}",
            ]
        )
