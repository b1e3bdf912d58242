"""Training in phases, as GlassMLP's authors train (GerhardJung/StructDynGlass,
machine_learning/KA3D/machine_learning_mlptrain.py): each phase recompiles the Keras
model, i.e. a fresh Adam at the phase's learning rate, with or without the correlation
terms of the loss, for a number of epochs, optionally with early stopping on the
validation loss and the phase's best weights restored at its end (their EarlyStopping +
ModelCheckpoint(save_best_only) + load_model).

`TrainingPhases` does this inside one Lightning fit: at the start of every phase it sets
the learning rate, clears the optimiser state and switches the module's
`use_correlation_terms`; after every validation it tracks the phase's best validation
loss and keeps those weights in memory; when a phase ends (its epochs done, or `patience`
validations without improvement) it restores them (phases with a patience) and starts the
next one; after the last phase it stops training. Its state (phase, epoch in the phase,
best loss, wait, best weights) is saved in checkpoints, so `ckpt_path=last` resumes in
the middle of a phase.

Checkpoint selection: it logs `val/last_phase_score`, minus the validation loss during
the last phase and -inf before. A ModelCheckpoint maximising it keeps the last phase's
best epoch, which is the model the run tests (earlier phases use other losses, their
validation losses are not comparable).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import pytorch_lightning as pl
import torch

log = logging.getLogger(__name__)

#: the metric a ModelCheckpoint should maximise to keep the last phase's best weights
SELECTION_METRIC = "val/last_phase_score"


@dataclass(frozen=True)
class Phase:
    """One phase: `epochs` (at most, with `patience`), Adam's `lr`, whether the loss has
    its correlation/variance terms, and the early-stopping patience (None: no early stop)."""

    epochs: int
    lr: float
    correlation: bool = False
    patience: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"phase epochs={self.epochs!r}: expected an integer >= 1")
        if not self.lr > 0:
            raise ValueError(f"phase lr={self.lr!r}: must be > 0")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"phase patience={self.patience!r}: expected an integer >= 1 or null")


def parse_phases(phases: Any) -> list[Phase]:
    """Phases from a list of mappings {epochs, lr, correlation, patience}."""
    if not phases:
        raise ValueError("callbacks.training_phases.phases: expected a non-empty list of phases")
    out = []
    for k, p in enumerate(phases):
        try:
            out.append(Phase(**dict(p)))
        except TypeError as exc:
            raise ValueError(
                f"callbacks.training_phases.phases[{k}]={dict(p)}: expected the keys epochs, "
                "lr, correlation, patience"
            ) from exc
    return out


class TrainingPhases(pl.Callback):
    """Runs the training as a sequence of `phases` (module docstring)."""

    def __init__(self, phases: Any, monitor: str = "val/loss") -> None:
        self.phases = parse_phases(phases)
        self.monitor = monitor
        self.phase = 0
        self.epoch_in_phase = 0
        self.best = math.inf
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.last_value = math.nan

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "phases": [asdict(p) for p in self.phases],
            "phase": self.phase,
            "epoch_in_phase": self.epoch_in_phase,
            "best": self.best,
            "wait": self.wait,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = [Phase(**p) for p in state["phases"]]
        if saved != self.phases:
            log.warning("resuming with other training phases than the checkpoint's: %s", saved)
        self.phase = int(state["phase"])
        self.epoch_in_phase = int(state["epoch_in_phase"])
        self.best = float(state["best"])
        self.wait = int(state["wait"])
        self.best_weights = state["best_weights"]

    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    @property
    def finished(self) -> bool:
        return self.phase >= len(self.phases)

    # ------------------------------------------------------------------ hooks

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not hasattr(pl_module, "use_correlation_terms"):
            raise ValueError(
                f"TrainingPhases needs a module with `use_correlation_terms` (a "
                f"PropensityModule), got {type(pl_module).__name__}"
            )
        if trainer.fast_dev_run:
            return
        if trainer.check_val_every_n_epoch != 1:
            raise ValueError(
                "TrainingPhases tracks the validation loss after every epoch: set "
                f"trainer.check_val_every_n_epoch=1 (got {trainer.check_val_every_n_epoch})"
            )
        max_epochs = trainer.max_epochs
        if max_epochs is not None and max_epochs >= 0 and max_epochs < self.total_epochs:
            raise ValueError(
                f"trainer.max_epochs={max_epochs} is below the {self.total_epochs} epochs of "
                "the training phases: raise it (the phases stop training themselves)"
            )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.lr_scheduler_configs:
            raise ValueError("TrainingPhases sets the learning rate itself: use scheduler: null")
        if self.finished:
            trainer.should_stop = True
            return
        # a fresh phase (also right after a transition saved in the checkpoint) starts with
        # a fresh optimiser; a resumed mid-phase run keeps the restored Adam state
        self._enter(trainer, pl_module, fresh=self.epoch_in_phase == 0)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.finished:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise ValueError(f"TrainingPhases: the module logs no {self.monitor!r}")
        loss = self.last_value = float(value)
        if self.phases[self.phase].patience is not None or self._last:
            if loss < self.best:  # strict, as Keras' EarlyStopping/ModelCheckpoint (min_delta 0)
                self.best, self.wait = loss, 0
                self.best_weights = copy.deepcopy(pl_module.state_dict())
            else:
                self.wait += 1
        score = -loss if self._last and math.isfinite(loss) else -math.inf
        pl_module.log(SELECTION_METRIC, score, on_epoch=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.finished:
            return
        self.epoch_in_phase += 1
        phase = self.phases[self.phase]
        stopped = phase.patience is not None and self.wait >= phase.patience
        if self.epoch_in_phase < phase.epochs and not stopped:
            return
        if phase.patience is not None and self.best_weights is not None:
            pl_module.load_state_dict(self.best_weights)
        log.info(
            "training phase %d/%d ends after %d epochs%s%s",
            self.phase + 1,
            len(self.phases),
            self.epoch_in_phase,
            " (early stop)" if stopped else "",
            f"; best {self.monitor} {self.best:.6g}, its weights restored"
            if phase.patience is not None
            else f"; last {self.monitor} {self.last_value:.6g}",
        )
        self.phase += 1
        self.epoch_in_phase = 0
        self.best, self.wait, self.best_weights = math.inf, 0, None
        if self.finished:
            trainer.should_stop = True
        else:
            self._enter(trainer, pl_module, fresh=True)

    # ------------------------------------------------------------------ helpers

    @property
    def _last(self) -> bool:
        return self.phase == len(self.phases) - 1

    def _enter(self, trainer: pl.Trainer, pl_module: pl.LightningModule, fresh: bool) -> None:
        phase = self.phases[self.phase]
        for opt in trainer.optimizers:
            if fresh:
                opt.state.clear()  # as a fresh Keras optimizer at every compile
            for group in opt.param_groups:
                group["lr"] = phase.lr
        pl_module.use_correlation_terms = phase.correlation
        loss = "free (per-particle term only)"
        if phase.correlation:
            has_terms = getattr(pl_module, "terms", True) is not None
            loss = "full" if has_terms else "the same (the model has no correlation terms)"
        log.info(
            "training phase %d/%d%s: lr %g, %s loss, %s epochs%s",
            self.phase + 1,
            len(self.phases),
            "" if fresh else f" (resumed at epoch {self.epoch_in_phase})",
            phase.lr,
            loss,
            phase.epochs if phase.patience is None else f"up to {phase.epochs}",
            ""
            if phase.patience is None
            else f", early stop after {phase.patience} validations without improvement",
        )
