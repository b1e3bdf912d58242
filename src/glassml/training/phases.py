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
next one; after the last phase it stops training. Its state is saved in checkpoints, so
`ckpt_path=last` resumes in the middle of a phase.

Selection per network. The authors train every network (species, time scale) on its own,
with its own early stop and its own best weights. When the module's net says which
parameters serve which (species, time) (`net.network_for(species, time)`, e.g. GlassMLP)
and the module gives each network's validation loss (`val_network_losses` [S, T] over
`network_grid`), every distinct network is a selection unit with its own best loss, wait
and best weights; the unit's loss is the mean over the (species, time) it serves. In a
phase with a patience, a unit that does not improve counts up its wait, and once it has
waited `patience` validations it is stopped: its best is final, as when the authors'
network stops. The phase ends when its epochs are done or every unit is stopped; our
units keep stepping until the last one stops (their Adam steps and losses are separate,
so this does not change the others), but each unit gets back its own best weights at the
phase's end. Up to the end of each phase this is the authors' independent training
(no gradient clipping: a global norm would couple the networks). After the last phase,
the model is the composite of every unit's best weights of that phase.

Checkpoint selection: `val/last_phase_score` is minus the validation loss during the last
phase and -inf before; a ModelCheckpoint maximising it keeps the last phase's best epoch
(earlier phases use other losses). With units, at the end of the last phase the composite
is written where that checkpoint callback keeps its best (its best_model_path), with
best_model_score minus the mean of the units' best losses (the composite's validation loss
when the loss is the mean of the networks' losses, as GlassMLP's is), so the run tests
the composite. A net without `network_for` keeps one joint decision on the mean loss.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn

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


@dataclass
class Unit:
    """A selection unit: one network, the (row, time) entries of `val_network_losses` it
    serves, and its selection state in the current phase."""

    module: nn.Module
    entries: list[tuple[int, int]]
    name: str
    best: float = math.inf
    wait: int = 0
    best_epoch: int | None = None
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def reset(self) -> None:
        self.best, self.wait, self.best_epoch, self.best_weights = math.inf, 0, None, None

    def loss(self, losses: torch.Tensor) -> float:
        """Mean of its entries' losses (NaN when none was seen)."""
        values = torch.stack([losses[r, t] for r, t in self.entries]).double()
        seen = values[~torch.isnan(values)]
        return float(seen.mean()) if seen.numel() else math.nan

    def state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "best": self.best,
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.best_epoch = state["best_epoch"]
        self.best_weights = state["best_weights"]


def selection_units(pl_module: pl.LightningModule) -> list[Unit] | None:
    """The distinct networks of `pl_module.net` (`network_for`) over the module's
    `network_grid`, or None when the net or the module cannot say (joint selection)."""
    network_for = getattr(getattr(pl_module, "net", None), "network_for", None)
    grid = getattr(pl_module, "network_grid", None)
    if network_for is None or grid is None:
        return None
    species, times = grid
    label = getattr(pl_module, "network_label", lambda s, t: f"{s}_t{t}")
    units: dict[int, Unit] = {}
    for row, s in enumerate(species):
        for t in range(times):
            module = network_for(s, t)
            unit = units.setdefault(id(module), Unit(module, [], label(s, t)))
            unit.entries.append((row, t))
    for unit in units.values():
        if len(unit.entries) > 1:
            unit.name += f" (+{len(unit.entries) - 1} more)"
    return list(units.values())


class TrainingPhases(pl.Callback):
    """Runs the training as a sequence of `phases`, selecting per network where the net
    allows it (module docstring)."""

    def __init__(self, phases: Any, monitor: str = "val/loss") -> None:
        self.phases = parse_phases(phases)
        self.monitor = monitor
        self.phase = 0
        self.epoch_in_phase = 0
        self.best = math.inf
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.last_value = math.nan
        #: per-network selection (None: joint, on `monitor`); built at fit start
        self.units: list[Unit] | None = None
        self._pending_units: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "phases": [asdict(p) for p in self.phases],
            "phase": self.phase,
            "epoch_in_phase": self.epoch_in_phase,
            "best": self.best,
            "wait": self.wait,
            "best_weights": self.best_weights,
            "units": None if self.units is None else [u.state() for u in self.units],
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
        # applied to the units when the fit starts (Lightning restores callbacks first)
        self._pending_units = state.get("units")
        if self.units is not None:
            self._apply_pending_units()

    def _apply_pending_units(self) -> None:
        pending, self._pending_units = self._pending_units, None
        if pending is None and self.units is None:
            return
        if pending is None or self.units is None:
            if pending is not None or self.epoch_in_phase > 0:
                log.warning(
                    "the checkpoint selects %s, this run %s: the current phase's selection "
                    "starts afresh",
                    "jointly" if pending is None else "per network",
                    "jointly" if self.units is None else "per network",
                )
            return
        names = [u["name"] for u in pending]
        if names != [u.name for u in self.units]:
            raise ValueError(
                f"the checkpoint's selection units {names} are not this model's "
                f"{[u.name for u in self.units]}: resume with the same model and species"
            )
        for unit, state in zip(self.units, pending, strict=True):
            unit.load(state)

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
        self.units = selection_units(pl_module)
        self._apply_pending_units()
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
        if self.units is None:
            log.info("training phases: one selection for the whole model on %s", self.monitor)
        else:
            log.info(
                "training phases: early stop and best weights per network (%d networks)",
                len(self.units),
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
        if self.units is None and self._tracking:
            if loss < self.best:  # strict, as Keras' EarlyStopping/ModelCheckpoint (min_delta 0)
                self.best, self.wait = loss, 0
                self.best_weights = copy.deepcopy(pl_module.state_dict())
            else:
                self.wait += 1
        score = -loss if self._last and math.isfinite(loss) else -math.inf
        pl_module.log(SELECTION_METRIC, score, on_epoch=True)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Per-network selection, once the module has its epoch's `val_network_losses`."""
        if trainer.sanity_checking or self.finished or self.units is None or not self._tracking:
            return
        losses = getattr(pl_module, "val_network_losses", None)
        if losses is None:
            raise ValueError("TrainingPhases: the module gives no val_network_losses")
        losses = losses.detach().cpu()
        patience = self.phases[self.phase].patience
        for unit in self.units:
            if patience is not None and unit.wait >= patience:
                continue  # stopped, as the authors' network: its best is final
            loss = unit.loss(losses)
            if loss < unit.best:  # strict, as Keras (min_delta 0); NaN never improves
                unit.best, unit.wait, unit.best_epoch = loss, 0, self.epoch_in_phase
                unit.best_weights = {
                    k: v.detach().clone() for k, v in unit.module.state_dict().items()
                }
            else:
                unit.wait += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.finished:
            return
        self.epoch_in_phase += 1
        phase = self.phases[self.phase]
        stopped = phase.patience is not None and self._all_waited(phase.patience)
        if self.epoch_in_phase < phase.epochs and not stopped:
            return
        first_epoch = trainer.current_epoch + 1 - self.epoch_in_phase
        composite = None
        if self.units is not None:
            self._end_phase_per_unit(stopped, first_epoch)
            composite = self.composite_score() if self._last else None
        else:
            self._end_phase_joint(pl_module, phase, stopped)
        self.phase += 1
        self.epoch_in_phase = 0
        self.best, self.wait, self.best_weights = math.inf, 0, None
        for unit in self.units or []:
            unit.reset()
        if self.finished:
            trainer.should_stop = True
            if composite is not None:
                self._write_composite(trainer, composite)
        else:
            self._enter(trainer, pl_module, fresh=True)

    # ------------------------------------------------------------------ helpers

    @property
    def _last(self) -> bool:
        return self.phase == len(self.phases) - 1

    @property
    def _tracking(self) -> bool:
        """Whether this phase selects weights: with a patience, and always the last."""
        return not self.finished and (self.phases[self.phase].patience is not None or self._last)

    def _all_waited(self, patience: int) -> bool:
        if self.units is None:
            return self.wait >= patience
        return all(u.wait >= patience for u in self.units)

    def _end_phase_joint(self, pl_module: pl.LightningModule, phase: Phase, stopped: bool) -> None:
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

    def _end_phase_per_unit(self, stopped: bool, first_epoch: int) -> None:
        """Every unit back to its own best weights (phases that select)."""
        assert self.units is not None
        selects = self._tracking
        if selects:
            for unit in self.units:
                if unit.best_weights is not None:
                    unit.module.load_state_dict(unit.best_weights)
        log.info(
            "training phase %d/%d ends after %d epochs%s%s",
            self.phase + 1,
            len(self.phases),
            self.epoch_in_phase,
            " (every network out of patience)" if stopped else "",
            "; every network back to its own best epoch (epoch in phase: loss): "
            + ", ".join(
                f"{u.name} {u.best_epoch}: {u.best:.4g}"
                if u.best_epoch is not None
                else f"{u.name} never validated"
                for u in self.units
            )
            if selects
            else f"; last {self.monitor} {self.last_value:.6g}",
        )
        if selects:
            log.info(
                "training phase %d/%d: the networks' best epochs are %s (run epochs, the phase "
                "began at epoch %d)",
                self.phase + 1,
                len(self.phases),
                [None if u.best_epoch is None else first_epoch + u.best_epoch for u in self.units],
                first_epoch,
            )

    def composite_score(self) -> float:
        """Minus the mean of the units' best losses (units never validated left out)."""
        assert self.units is not None
        best = [u.best for u in self.units if math.isfinite(u.best)]
        return -sum(best) / len(best) if best else -math.inf

    def _write_composite(self, trainer: pl.Trainer, score: float) -> None:
        """The composite (the module's weights now) as the run's best checkpoint: written
        where the checkpoint callback keeps its best, with `score`. The callback's own
        saving at this epoch's end runs after this hook (Lightning calls the monitoring
        callbacks' on_train_epoch_end last) and sees `score` as the epoch's metric: no
        improvement, nothing overwritten."""
        cb = trainer.checkpoint_callback
        if not isinstance(cb, ModelCheckpoint) or trainer.fast_dev_run:
            return
        if cb.monitor != SELECTION_METRIC:
            log.warning(
                "the checkpoint callback monitors %s, not %s: it keeps its own choice; the "
                "composite of the networks' best weights is the final model (last.ckpt)",
                cb.monitor,
                SELECTION_METRIC,
            )
            return
        value = torch.tensor(score)
        path = cb.best_model_path or cb.format_checkpoint_name({SELECTION_METRIC: value})
        cb.best_k_models = {path: value}
        cb.best_model_path = cb.kth_best_model_path = path
        cb.best_model_score = cb.kth_value = cb.current_score = value
        trainer.callback_metrics[SELECTION_METRIC] = value
        trainer.save_checkpoint(path)
        log.info(
            "the composite of the networks' best weights is the tested model: %s (%s %.6g, "
            "minus the mean of their best validation losses)",
            path,
            SELECTION_METRIC,
            score,
        )

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
