"""The training entry point as a plain function: config in, metrics out.

`glassml-train` is a thin Hydra wrapper around `train`; tests and notebooks call
`train` directly with a composed config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from pytorch_lightning.callbacks import ModelCheckpoint

from glassml.data.datamodule import GlassDataModule
from glassml.evaluation.baselines import local_density_baseline
from glassml.evaluation.report import format_table, report_dict, scores_from_logged, write_json
from glassml.models.bapst import count_parameters
from glassml.training.checkpoint import load_checkpoint_file, register_safe_globals
from glassml.training.config import save_resolved_config, to_container
from glassml.training.module import PropensityModule
from glassml.training.pruning import missing_metric
from glassml.training.resume import ResumeState, model_checkpoints, resolve_checkpoint
from glassml.training.tracking import log_run_artifacts

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group such as callbacks or logger."""
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


# values of `trainer.matmul_precision` (torch.set_float32_matmul_precision)
MATMUL_PRECISIONS = ("highest", "high", "medium")


def build_trainer(cfg_trainer: DictConfig, **kwargs: Any) -> pl.Trainer:
    """Instantiate `cfg.trainer`, applying `matmul_precision` first: float32 matrix
    products in full precision (`highest`) or TF32 on Ampere and newer GPUs (`high`).

    `num_threads` (null: torch's default) fixes torch's intra-op CPU threads: parallel
    reductions split their sums by thread count, so a fixed count gives the same floats on
    any machine, busy or idle."""
    cfg_trainer = cfg_trainer.copy()
    with open_dict(cfg_trainer):
        precision = cfg_trainer.pop("matmul_precision", "highest")
        num_threads = cfg_trainer.pop("num_threads", None)
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(
            f"trainer.matmul_precision must be one of {MATMUL_PRECISIONS}, got {precision!r}"
        )
    if num_threads is not None:
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"trainer.num_threads={num_threads!r}: expected an integer >= 1")
        torch.set_num_threads(num_threads)
    torch.set_float32_matmul_precision(precision)
    return instantiate(cfg_trainer, **kwargs)


def _finish_wandb(loggers: list[Any]) -> None:
    """Close W&B runs, so that sweeps and tests do not leak a live run into the next job."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()


def objective_value(cfg: DictConfig, trainer: pl.Trainer, metrics: dict[str, Any]) -> float | None:
    """The value a sweeper optimises: `optimized_metric` at the best checkpoint.

    When the checkpoint callback monitors the same metric, its best score (the model that
    is kept and tested); otherwise the last logged value. A clear error when never logged.
    """
    name = cfg.get("optimized_metric")
    if not name:
        return None
    ckpt = trainer.checkpoint_callback
    if (
        isinstance(ckpt, ModelCheckpoint)
        and ckpt.monitor == name
        and ckpt.best_model_score is not None
    ):
        return float(ckpt.best_model_score)
    if name not in metrics:
        raise missing_metric(name, metrics, "optimized_metric")
    return metrics[name]


def test_report(
    trainer: pl.Trainer, datamodule: GlassDataModule, baseline_radius: float | None
) -> dict[str, Any]:
    """Test Pearson table of the model (from the logged metrics) next to the baseline."""
    info = datamodule.info
    assert info is not None
    model = scores_from_logged(
        {k: float(v) for k, v in trainer.callback_metrics.items()}, info, "test"
    )
    baseline = None
    if baseline_radius:
        baseline = local_density_baseline(
            datamodule.raw["train"],
            datamodule.raw_targets("train"),
            datamodule.raw["test"],
            datamodule.raw_targets("test"),
            info.num_species,
            baseline_radius,
            species=info.train_species,  # beside the model: the species it was trained on
        )
    return report_dict(info, model, baseline, n_configs=len(datamodule.files["test"]))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Build data, model, callbacks, loggers and trainer from `cfg`; fit; test; report.

    Writes into `cfg.paths.output_dir`: `config_resolved.yaml`, checkpoints (by the
    checkpoint callback), logger files and `test_metrics.json` (Pearson per time and
    species, model and local-density baseline). Returns the final logged metrics, where
    `optimized_metric` holds the value a sweeper optimises (see `objective_value`).
    """
    pl.seed_everything(cfg.seed, workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, out_dir / "config_resolved.yaml")
    resolved = to_container(cfg)

    datamodule: GlassDataModule = instantiate(cfg.dataset)
    datamodule.setup()
    log.info(datamodule.describe())
    module: PropensityModule = instantiate(cfg.model, data_info=datamodule.info)
    module.run_config = resolved
    n_params = count_parameters(module.net)
    log.info("model %s: %d parameters", type(module.net).__name__, n_params)

    # RNG states and the W&B run id go into every checkpoint: `ckpt_path=last` resumes exactly
    callbacks = [*instantiate_group(cfg.get("callbacks")), ResumeState()]
    loggers = instantiate_group(cfg.get("logger"))
    trainer = build_trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    try:
        for lg in trainer.loggers:
            lg.log_hyperparams({**resolved, "n_params": n_params})

        if cfg.get("train", True):
            dirs = [cb.dirpath for cb in model_checkpoints(trainer)]
            ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), dirs)
            trust = bool(cfg.get("trust_checkpoint", False))
            if ckpt_path is not None:  # refuses, naming the types, what could run code
                load_checkpoint_file(ckpt_path, trust=trust)
            register_safe_globals()
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=not trust)
        metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
        objective = None
        if cfg.get("train", True) and not trainer.fast_dev_run:
            objective = objective_value(cfg, trainer, metrics)

        if cfg.get("test", True) and len(datamodule.datasets["test"]):
            best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
            if best:
                log.info("testing the best checkpoint %s", best)
            else:
                log.info("no best checkpoint (e.g. fast_dev_run): testing the current weights")
            register_safe_globals()
            trainer.test(
                module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True
            )
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
            custom_report = getattr(module, "test_report", None)  # tasks other than propensity
            if custom_report is not None:
                report = custom_report(trainer, datamodule)
            else:
                report = test_report(trainer, datamodule, cfg.get("baseline_radius"))
            report["n_params"] = n_params
            report["best_checkpoint"] = best
            table = module.format_report(report) if custom_report else format_table(report)
            if trainer.is_global_zero:  # under DDP every rank has the same gathered report
                write_json(out_dir / "test_metrics.json", report)
                print(table, flush=True)
            for lg in trainer.loggers:
                if isinstance(lg, pl.loggers.WandbLogger):
                    lg.experiment.summary["test_report"] = report
        log_run_artifacts(trainer, datamodule)
        log.info("run directory: %s", out_dir)
        if objective is not None:  # what `glassml-train` returns to a sweeper
            metrics[cfg.optimized_metric] = objective
        return metrics
    finally:
        _finish_wandb(trainer.loggers)
