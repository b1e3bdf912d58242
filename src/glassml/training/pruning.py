"""Optuna pruning inside a training job, and the checks a sweep runs before its first trial.

The Optuna sweeper (`hydra_plugins/glassml_optuna_sweeper`) hands each job its trial as
`optuna_trial.{storage,study_name,number}`; `OptunaPruning` re-loads that trial from the
persistent storage, reports the monitored validation metric once per epoch and stops the
run when the study's pruner (stored in the study by the sweeper) says so. Without a
trial (a plain run of the same config) it only checks that the metric is logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)

#: Study user attribute holding the pruner config (written by the sweeper).
PRUNER_ATTR = "hydra_pruner"

#: Per-epoch validation metrics that `PropensityModule` logs (see its docstring).
VAL_METRIC = re.compile(r"^val/(loss|pearson(_cfg)?_[A-Z]_(t\d{2}|tau|mean))$")


class MetricNotLoggedError(KeyError):
    """The metric a sweep optimises or a callback monitors is not among the logged ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def missing_metric(name: str, logged: Any, key: str) -> MetricNotLoggedError:
    """A clear error naming the config key, the metric and what was logged instead."""
    names = sorted(k for k in logged if k.startswith(name.split("/")[0] + "/")) or sorted(logged)
    return MetricNotLoggedError(
        f"{key}={name!r} was never logged; logged metrics: {', '.join(names) or 'none'}"
    )


class OptunaPruning(pl.Callback):
    """Report `monitor` to the job's Optuna trial every validation; stop when pruned.

    After the run stops, `on_train_end` raises `optuna.TrialPruned`, which the sweeper
    records as a pruned trial (its value is the last reported one). Under DDP only rank 0
    talks to the storage and the decision is broadcast, so every rank stops together.
    """

    def __init__(
        self,
        monitor: str,
        storage: str | None = None,
        study_name: str | None = None,
        trial_number: int | None = None,
    ) -> None:
        self.monitor = monitor
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial_number
        self.trial: Any = None
        self.pruned_at: int | None = None
        self._checked = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.trial is not None or self.trial_number is None:
            return
        if trainer.is_global_zero:
            self.trial = load_trial(self.storage, self.study_name, int(self.trial_number))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        if not self._checked:  # the sanity check already shows whether the metric exists
            if self.monitor not in metrics:
                raise missing_metric(self.monitor, metrics, "optimized_metric")
            self._checked = True
        if trainer.sanity_checking:
            return
        prune = False
        if self.trial is not None:
            step = trainer.current_epoch
            self.trial.report(float(metrics[self.monitor]), step)
            prune = self.trial.should_prune()
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.pruned_at is not None:
            import optuna

            raise optuna.TrialPruned(
                f"trial {self.trial_number} pruned at epoch {self.pruned_at} ({self.monitor})"
            )


def load_trial(storage: str | None, study_name: str | None, number: int) -> Any:
    """The sweeper's trial `number` of `study_name`, with the study's pruner attached."""
    import optuna

    if not storage or not study_name:
        raise ValueError(
            f"optuna_trial.number={number} needs optuna_trial.storage and optuna_trial.study_name"
        )
    rdb = optuna.storages.RDBStorage(storage, engine_kwargs=_engine_kwargs(storage))
    study_id = rdb.get_study_id_from_name(study_name)
    spec = rdb.get_study_user_attrs(study_id).get(PRUNER_ATTR)
    pruner = instantiate(spec) if spec else optuna.pruners.NopPruner()
    study = optuna.load_study(study_name=study_name, storage=rdb, pruner=pruner)
    trial_id = rdb.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def _engine_kwargs(url: str) -> dict[str, Any]:
    # parallel trials report to one SQLite file: wait for its lock instead of failing
    return {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}


def check_sweep_config(cfg: DictConfig) -> None:
    """Sweeper `validate` hook: what must hold for a trial config before any trial runs.

    The optimised metric must be a per-epoch validation metric (for `PropensityModule`, one
    of the names it logs), the pruning callback must monitor it, the checkpoint must keep
    the best model by the same metric in the sweep's direction, and a propensity model and
    its optimiser must build.
    """
    name = cfg.get("optimized_metric")
    if not name:
        raise ValueError("optimized_metric is null: a sweep needs the metric to optimise")
    propensity = str(cfg.model.get("_target_", "")).endswith("PropensityModule")
    if not str(name).startswith("val/"):
        raise MetricNotLoggedError(
            f"optimized_metric={name!r}: a sweep needs a per-epoch validation metric (val/...)"
        )
    if propensity and not VAL_METRIC.match(str(name)):
        raise MetricNotLoggedError(
            f"optimized_metric={name!r} is not a metric that training logs per epoch; "
            "expected val/loss, val/pearson_<species>_<tNN|tau|mean> or "
            "val/pearson_cfg_<species>_<tNN|tau|mean>, e.g. val/pearson_A_tau"
        )
    callbacks = cfg.get("callbacks") or {}
    pruning = callbacks.get("optuna_pruning")
    if pruning is not None and pruning.get("monitor") != name:
        raise ValueError(
            f"callbacks.optuna_pruning.monitor={pruning.get('monitor')!r} differs from "
            f"optimized_metric={name!r}"
        )
    ckpt = callbacks.get("model_checkpoint")
    direction = cfg.hydra.sweeper.get("direction") if "hydra" in cfg else None
    if ckpt is not None and ckpt.get("monitor") == name and isinstance(direction, str):
        want = "max" if direction == "maximize" else "min"
        if ckpt.get("mode") != want:
            raise ValueError(
                f"hydra.sweeper.direction={direction} but callbacks.model_checkpoint.mode="
                f"{ckpt.get('mode')}: the returned best value would be the wrong one"
            )
    if propensity:
        _check_model_builds(cfg)


def _check_model_builds(cfg: DictConfig) -> None:
    """Instantiate the model and its optimiser on placeholder data sizes (no data read)."""
    from glassml.data.datamodule import DataInfo

    n_times = len(cfg.dataset.get("time_indices") or [0])
    info = DataInfo(
        dim=3,
        num_species=2,
        time_indices=list(range(n_times)),
        times=None,
        tau_position=0,
        target_mean=[0.0] * n_times,
        target_std=[1.0] * n_times,
        train_species=[0],
    )
    instantiate(cfg.model, data_info=info).configure_optimizers()
    batch_size = cfg.dataset.get("batch_size", 1)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"dataset.batch_size={batch_size}: expected an integer >= 1")
