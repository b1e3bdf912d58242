"""Weights & Biases tracking: one group per sweep, tags, artifacts, resuming the same run.

`GlassWandbLogger` is Lightning's `WandbLogger` with what a glassml run adds:
- mode: offline unless WANDB_MODE says otherwise or a key is set (WANDB_API_KEY);
- group: all runs of one sweep share a group (the Optuna study name, which also spans
  several invocations and workers, or else the Hydra multirun folder);
- tags: the config's `tags` plus the chosen experiment, hparams_search, model, dataset;
- resume: given the checkpoint a run resumes from, it continues that checkpoint's W&B
  run (its id is stored in every checkpoint by `glassml.training.resume.ResumeState`);
- artifacts: the best checkpoint and a description of the dataset, when enabled.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import WandbLogger

from glassml.training.resume import read_resume_state, resolve_checkpoint

log = logging.getLogger(__name__)

#: config groups whose chosen option becomes a W&B tag ("model=bapst_quick")
TAG_GROUPS = ("experiment", "hparams_search", "model", "dataset")


def wandb_mode(mode: str | None) -> str:
    """Explicit mode, else online with an API key in the environment, else offline."""
    if mode:
        return str(mode)
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def _hydra_runtime() -> Any:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def sweep_group(optuna_study: str | None) -> str | None:
    """The group shared by the runs of one sweep, or None outside sweeps."""
    if optuna_study:
        return str(optuna_study)
    hc = _hydra_runtime()
    if hc is not None and str(hc.mode) == "RunMode.MULTIRUN":
        sweep_dir = Path(str(hc.sweep.dir))
        return f"{sweep_dir.parent.name}_{sweep_dir.name}"
    return None


def run_tags(tags: Any) -> list[str]:
    """Config tags plus `group=choice` for the config groups that define the run."""
    out = [str(t) for t in (tags or [])]
    hc = _hydra_runtime()
    if hc is not None:
        choices = hc.runtime.choices
        out += [f"{g}={choices[g]}" for g in TAG_GROUPS if choices.get(g)]
    return list(dict.fromkeys(out))


def _artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


class GlassWandbLogger(WandbLogger):
    """WandbLogger with sweep grouping, tags, resume of the same run and run artifacts."""

    def __init__(
        self,
        *,
        save_dir: str,
        mode: str | None = None,
        group: str | None = None,
        optuna_study: str | None = None,
        tags: Any = None,
        resume_from: str | None = None,
        checkpoint_dir: str | None = None,
        trust_checkpoint: bool = False,
        log_best_checkpoint: bool = True,
        log_dataset: bool = True,
        **kwargs: Any,
    ) -> None:
        self.log_best_checkpoint = bool(log_best_checkpoint)
        self.log_dataset = bool(log_dataset)
        ckpt = resolve_checkpoint(resume_from, [checkpoint_dir]) if resume_from else None
        run_id = read_resume_state(ckpt, trust=bool(trust_checkpoint)).get("wandb_run_id")
        if run_id:
            log.info("resuming W&B run %s from %s", run_id, ckpt)
            kwargs.update(id=run_id, resume="allow")
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(
            save_dir=save_dir,
            mode=wandb_mode(mode),
            group=sweep_group(optuna_study) or group,
            tags=run_tags(tags),
            **kwargs,
        )

    def log_run_artifacts(
        self, best_checkpoint: str | None, score: float | None, dataset: dict[str, Any] | None
    ) -> None:
        """Best checkpoint (type model) and dataset description (type dataset), if enabled."""
        import wandb

        run = self.experiment
        if self.log_best_checkpoint and best_checkpoint and Path(best_checkpoint).is_file():
            art = wandb.Artifact(
                _artifact_name(f"model-{run.id}"),
                type="model",
                metadata={"score": score, "source": str(best_checkpoint)},
            )
            art.add_file(str(best_checkpoint), name="best.ckpt")
            run.log_artifact(art, aliases=["best", "latest"])
        if self.log_dataset and dataset:
            art = wandb.Artifact(
                _artifact_name(f"dataset-{dataset.get('name', 'data')}"),
                type="dataset",
                description=str(dataset.get("summary", "")),
                metadata={k: v for k, v in dataset.items() if k != "files"},
            )
            with art.new_file("dataset.json") as fh:
                json.dump(dataset, fh, indent=2)
            run.log_artifact(art)


def dataset_description(datamodule: Any) -> dict[str, Any]:
    """What a run was trained on: summary line, root, split files, data info, dataset.json.

    Datamodules other than `GlassDataModule` give what they have (at least the summary).
    """
    describe = getattr(datamodule, "describe", None)
    desc: dict[str, Any] = {
        "name": str(getattr(datamodule, "name", type(datamodule).__name__)),
        "summary": describe() if callable(describe) else type(datamodule).__name__,
    }
    files = getattr(datamodule, "files", None)
    if isinstance(files, dict):
        desc["files"] = {s: [Path(p).name for p in f] for s, f in files.items()}
    info = getattr(datamodule, "info", None)
    if hasattr(info, "to_dict"):
        desc["info"] = info.to_dict()
    root = getattr(datamodule, "root", None)
    if root is None:
        return desc
    root = Path(root)
    desc["root"] = str(root.resolve())
    meta = root / "dataset.json"
    if meta.is_file():
        try:
            desc["dataset_json"] = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("could not read %s", meta)
    return desc


def log_run_artifacts(trainer: Any, datamodule: Any) -> None:
    """Call `log_run_artifacts` of every GlassWandbLogger of the trainer (rank 0 only)."""
    if not trainer.is_global_zero:
        return
    ckpt = trainer.checkpoint_callback
    best = getattr(ckpt, "best_model_path", "") or None
    score = getattr(ckpt, "best_model_score", None)
    for lg in trainer.loggers:
        if isinstance(lg, GlassWandbLogger):
            lg.log_run_artifacts(
                best, None if score is None else float(score), dataset_description(datamodule)
            )
