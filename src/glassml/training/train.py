"""The training entry point as a plain function: config in, metrics out.

`glassml-train` is a thin Hydra wrapper around `train`; tests and notebooks call
`train` directly with a composed config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig

from glassml.data.datamodule import GlassDataModule
from glassml.evaluation.baselines import local_density_baseline
from glassml.evaluation.report import format_table, report_dict, scores_from_logged, write_json
from glassml.models.bapst import count_parameters
from glassml.training.config import save_resolved_config, to_container
from glassml.training.module import PropensityModule

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group such as callbacks or logger."""
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


def _finish_wandb(loggers: list[Any]) -> None:
    """Close W&B runs, so that sweeps and tests do not leak a live run into the next job."""
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            import wandb

            wandb.finish()


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
        )
    return report_dict(info, model, baseline, n_configs=len(datamodule.files["test"]))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Build data, model, callbacks, loggers and trainer from `cfg`; fit; test; report.

    Writes into `cfg.paths.output_dir`: `config_resolved.yaml`, checkpoints (by the
    checkpoint callback), logger files and `test_metrics.json` (Pearson per time and
    species, model and local-density baseline). Returns the final logged metrics.
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

    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    try:
        for lg in trainer.loggers:
            lg.log_hyperparams({**resolved, "n_params": n_params})

        if cfg.get("train", True):
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}

        if cfg.get("test", True) and datamodule.files["test"]:
            best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
            if best:
                log.info("testing the best checkpoint %s", best)
            else:
                log.info("no best checkpoint (e.g. fast_dev_run): testing the current weights")
            trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
            report = test_report(trainer, datamodule, cfg.get("baseline_radius"))
            report["n_params"] = n_params
            report["best_checkpoint"] = best
            write_json(out_dir / "test_metrics.json", report)
            table = format_table(report)
            print(table, flush=True)
            for lg in trainer.loggers:
                if type(lg).__name__ == "WandbLogger":
                    lg.experiment.summary["test_report"] = report
        log.info("run directory: %s", out_dir)
        return metrics
    finally:
        _finish_wandb(trainer.loggers)
