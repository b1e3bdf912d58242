"""Exact resume: what a checkpoint must hold beyond Lightning's own state.

Lightning restores weights, optimiser and scheduler states, epoch, step and callback
states, but not the random number generators, so a resumed run would shuffle its
batches differently from an uninterrupted one. `ResumeState` stores the generators
(and the W&B run id, so the resumed run continues the same W&B run) in every checkpoint
and puts them back when training resumes. Lightning runs the sanity check with the RNG
isolated, so the restored state is exactly the one the next epoch would have drawn from.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint, ModelCheckpoint

from glassml.training.checkpoint import load_checkpoint_file

log = logging.getLogger(__name__)

RESUME_KEY = "glassml_resume"
LAST = "last.ckpt"


def collect_rng_states() -> dict[str, Any]:
    """torch (CPU, CUDA), numpy and python generators, as tensors and ints only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (global RNG)
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def logger_run_id(trainer: pl.Trainer) -> str | None:
    """The W&B run id of this training, if it logs to W&B."""
    for lg in trainer.loggers:
        if type(lg).__name__ in ("WandbLogger", "GlassWandbLogger"):
            return str(lg.version) if lg.version is not None else None
    return None


def model_checkpoints(trainer: pl.Trainer) -> list[ModelCheckpoint]:
    """The trainer's ModelCheckpoint callbacks (ResumeState, a Checkpoint too, is not one)."""
    return [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)]


class ResumeState(Checkpoint):
    """Adds RNG states and the W&B run id to checkpoints; restores the RNG on resume.

    It also writes `last.ckpt` (the latest state) into the checkpoint folder after every
    training epoch: Lightning's `save_last` only follows improvements of the monitored
    metric, and an interrupted run should not redo the epochs since its best one.

    A `Checkpoint` subclass so that Lightning runs its hooks after those of the callbacks
    that are not (it moves checkpoint callbacks to the end, in their order, and train.py
    appends this one last): when validation runs every epoch, ModelCheckpoint records the
    epoch's score in `on_train_epoch_end`, and `last.ckpt` must hold that record, or a
    resumed run would compare its next scores with a best one epoch out of date.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        savers = model_checkpoints(trainer)
        if trainer.fast_dev_run or not savers:
            return
        if savers[0].dirpath:
            trainer.save_checkpoint(str(Path(savers[0].dirpath) / LAST), weights_only=False)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[RESUME_KEY] = {
            "rng": collect_rng_states(),
            "wandb_run_id": logger_run_id(trainer),
        }

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(RESUME_KEY)
        if state is None:
            log.warning("checkpoint without RNG states: the resumed run will not be bit-exact")
            return
        set_rng_states(state["rng"])


def resolve_checkpoint(ckpt_path: str | None, checkpoint_dirs: Iterable[str | None]) -> str | None:
    """`ckpt_path=last`: the run's `last.ckpt` if there is one, else None (start afresh).

    Point `hydra.run.dir` at the interrupted run (or use a fixed run dir, as a requeued
    cluster job does) so that its checkpoint folder is searched. Any other value is a
    path and must exist.
    """
    if ckpt_path is None:
        return None
    if str(ckpt_path) != "last":
        if not Path(ckpt_path).is_file():
            raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
        return str(ckpt_path)
    dirs = [str(d) for d in checkpoint_dirs if d]
    for d in dirs:
        path = Path(d) / LAST
        if path.is_file():
            log.info("resuming from %s", path)
            return str(path)
    log.info("ckpt_path=last: no %s in %s, training from scratch", LAST, dirs or "(no folder)")
    return None


def read_resume_state(path: str | None, trust: bool = False) -> dict[str, Any]:
    """The glassml resume entry of a checkpoint file ({} when absent or no file); read with
    the weights-only loader unless `trust` (training/checkpoint.py)."""
    if not path or not Path(path).is_file():
        return {}
    return load_checkpoint_file(path, trust=trust).get(RESUME_KEY) or {}
