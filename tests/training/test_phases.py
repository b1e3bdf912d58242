"""TrainingPhases: learning rate and loss switch per phase, fresh optimiser state, the
phase's best weights restored, stop after the last phase, the selection metric, and an
exact resume in the middle of a phase."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from glassml.training.phases import SELECTION_METRIC, TrainingPhases

#: the validation loss of epoch e (scripted, so that the phases' decisions are known)
VAL = [9.0, 8.0, 5.0, 4.0, 4.5, 4.6, 4.7, 6.0, 3.0, 3.5, 2.0, 2.5, 2.6, 2.7, 2.8]
PHASES = [
    {"epochs": 2, "lr": 0.1, "correlation": False, "patience": None},
    # epochs 2..: best at epoch 3 (4.0), then 3 without improvement: stops after epoch 6
    {"epochs": 8, "lr": 0.01, "correlation": False, "patience": 3},
    {"epochs": 2, "lr": 0.001, "correlation": True, "patience": None},
    # epochs 9..: best at epoch 10 (2.0), stops after epoch 12 (patience 2)
    {"epochs": 5, "lr": 0.0001, "correlation": True, "patience": 2},
]


class Toy(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(3, 1)
        self.use_correlation_terms = True
        g = torch.Generator().manual_seed(1)
        self.data = TensorDataset(torch.randn(16, 3, generator=g), torch.randn(16, 1, generator=g))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", VAL[self.current_epoch], on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1.0)

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=4)

    def val_dataloader(self):
        return DataLoader(self.data, batch_size=16)


class Probe(pl.Callback):
    """Per epoch: lr, loss switch and optimiser state size at its first batch, the weights
    at validation, the selection metric, and the weights at the start of every epoch."""

    def __init__(self) -> None:
        self.first_batch: dict[int, tuple[float, bool, int]] = {}
        self.at_val: dict[int, dict[str, torch.Tensor]] = {}
        self.at_start: dict[int, dict[str, torch.Tensor]] = {}
        self.score: dict[int, float] = {}

    def on_train_epoch_start(self, trainer, module) -> None:
        self.at_start[trainer.current_epoch] = {
            k: v.clone() for k, v in module.state_dict().items()
        }

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if batch_idx == 0:
            opt = trainer.optimizers[0]
            lr = opt.param_groups[0]["lr"]
            self.first_batch[trainer.current_epoch] = (
                lr,
                module.use_correlation_terms,
                len(opt.state),
            )

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking:
            return
        self.at_val[trainer.current_epoch] = {k: v.clone() for k, v in module.state_dict().items()}
        self.score[trainer.current_epoch] = float(trainer.callback_metrics[SELECTION_METRIC])


def _trainer(callbacks, max_epochs: int = 100, **kw) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kw,
    )


def test_phases_set_lr_reset_state_restore_best_and_stop() -> None:
    phases, probe = TrainingPhases(PHASES), Probe()
    trainer = _trainer([phases, probe])
    trainer.fit(Toy())
    # phase epochs: 0-1 | 2-6 (early stop) | 7-8 | 9-12 (early stop), then the end
    assert sorted(probe.first_batch) == list(range(13))
    lrs = [probe.first_batch[e][0] for e in range(13)]
    assert lrs == [0.1] * 2 + [0.01] * 5 + [0.001] * 2 + [0.0001] * 4
    switch = [probe.first_batch[e][1] for e in range(13)]
    assert switch == [False] * 7 + [True] * 6
    # a fresh Adam (no state) at the first step of every phase, state after that
    fresh = [e for e in range(13) if probe.first_batch[e][2] == 0]
    assert fresh == [0, 2, 7, 9]
    # the best epoch's weights come back when a phase with patience ends
    for best, first_of_next in ((3, 7),):
        for k, v in probe.at_start[first_of_next].items():
            torch.testing.assert_close(v, probe.at_val[best][k])
    final = trainer.lightning_module.state_dict()
    for k, v in final.items():
        torch.testing.assert_close(v, probe.at_val[10][k])
    assert phases.finished and trainer.current_epoch == 13
    # selection: -inf before the last phase, minus the validation loss in it
    assert all(probe.score[e] == -math.inf for e in range(9))
    assert [probe.score[e] for e in range(9, 13)] == pytest.approx([-3.5, -2.0, -2.5, -2.6])


class StopAndSave(pl.Callback):
    """Save a checkpoint after epoch `epoch` (after the phases' bookkeeping) and stop."""

    def __init__(self, epoch: int, path: Path) -> None:
        self.epoch, self.path = epoch, path

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.save_checkpoint(self.path)
            trainer.should_stop = True


def test_resume_in_the_middle_of_a_phase(tmp_path) -> None:
    torch.use_deterministic_algorithms(True)
    try:
        whole = TrainingPhases(PHASES)
        reference = _trainer([whole])
        reference.fit(Toy())
        ckpt = tmp_path / "mid.ckpt"
        # epoch 4: in phase 2, one epoch after its best, best weights held
        first = TrainingPhases(PHASES)
        _trainer([first, StopAndSave(4, ckpt)], max_epochs=100, min_epochs=1).fit(Toy())
        assert (first.phase, first.epoch_in_phase, first.best, first.wait) == (1, 3, 4.0, 1)
        resumed = TrainingPhases(PHASES)
        trainer = _trainer([resumed])
        state = torch.load(ckpt, weights_only=True)["callbacks"]
        resumed.load_state_dict(state[next(k for k in state if "TrainingPhases" in k)])
        assert (resumed.phase, resumed.epoch_in_phase, resumed.best, resumed.wait) == (1, 3, 4.0, 1)
        for k, v in first.best_weights.items():
            torch.testing.assert_close(resumed.best_weights[k], v)
        resumed = TrainingPhases(PHASES)
        trainer = _trainer([resumed])
        trainer.fit(Toy(), ckpt_path=ckpt)
        assert resumed.finished and trainer.current_epoch == reference.current_epoch == 13
        for k, v in reference.lightning_module.state_dict().items():
            torch.testing.assert_close(trainer.lightning_module.state_dict()[k], v)
    finally:
        torch.use_deterministic_algorithms(False)


def test_bad_phases_and_settings() -> None:
    with pytest.raises(ValueError, match="non-empty list"):
        TrainingPhases([])
    with pytest.raises(ValueError, match="expected the keys"):
        TrainingPhases([{"epochs": 1, "lr": 0.1, "warmup": 3}])
    with pytest.raises(ValueError, match="patience"):
        TrainingPhases([{"epochs": 1, "lr": 0.1, "patience": 0}])
    with pytest.raises(ValueError, match="max_epochs=5 is below the 17 epochs"):
        _trainer([TrainingPhases(PHASES)], max_epochs=5).fit(Toy())
    with pytest.raises(ValueError, match="check_val_every_n_epoch=1"):
        _trainer([TrainingPhases(PHASES)], check_val_every_n_epoch=2).fit(Toy())


class StopAfter(pl.Callback):
    """Stop a glassml-train run after epoch `epoch` (as an interrupted job)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def test_glassml_train_resumes_a_phase_from_last_ckpt(synthetic_roots, tmp_path) -> None:
    """ckpt_path=last (read with the weights-only loader) continues phase 2 where it was."""
    from glassml.training.train import train

    from ..hydra_helpers import compose_config

    run = [
        "experiment=sample_glass_mlp",
        "dataset=generated",
        f"dataset.root={synthetic_roots['native']}",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null",
        "trainer.deterministic=true",
        "test=false",
        "callbacks.training_phases.phases=[{epochs:2,lr:1e-3,correlation:false,patience:null},"
        "{epochs:3,lr:1e-3,correlation:true,patience:null}]",
    ]
    train(compose_config("train", run, tmp_path / "whole"))
    stop = [
        "+callbacks.stop._target_=tests.training.test_phases.StopAfter",
        "+callbacks.stop.epoch=2",
    ]
    train(compose_config("train", [*run, *stop], tmp_path / "cut"))
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    phases = next(v for k, v in state["callbacks"].items() if "TrainingPhases" in k)
    assert (state["epoch"], phases["phase"], phases["epoch_in_phase"]) == (2, 1, 1)
    train(compose_config("train", [*run, "ckpt_path=last"], tmp_path / "cut"))
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == whole["epoch"] == 4
    for k, v in whole["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][k], v)
    # the tested model, the composite of the networks' best epochs, is the same too
    whole_best = torch.load(tmp_path / "whole" / "checkpoints" / "best.ckpt", weights_only=True)
    resumed_best = torch.load(tmp_path / "cut" / "checkpoints" / "best.ckpt", weights_only=True)
    for k, v in whole_best["state_dict"].items():
        torch.testing.assert_close(resumed_best["state_dict"][k], v)


# ---------------------------------------------------------------- selection per network

#: scripted validation losses of two networks, a and b, per epoch
NET_A = [9, 8, 5, 3.0, 3.5, 3.6, 3.7, 4, 1.0, 5, 5, 4, 2.0, 2.5, 2.6, 1.0, 2.8]
NET_B = [9, 8, 6, 6, 5, 2.0, 2.5, 2.6, 2.7, 5, 5, 3, 3.1, 1.5, 1.6, 1.7, 1.8]
UNIT_PHASES = [
    {"epochs": 2, "lr": 0.1, "correlation": False, "patience": None},
    # epochs 2-8: a best at 3, out of patience after 6 (its 1.0 at epoch 8 comes too
    # late); b best at 5, out of patience after 8: the phase ends there, not after 6
    {"epochs": 8, "lr": 0.01, "correlation": False, "patience": 3},
    {"epochs": 2, "lr": 0.001, "correlation": True, "patience": None},
    # epochs 11-15: a best at 12 (out after 14, its 1.0 at 15 too late), b best at 13 (out
    # after 15); the mean at epoch 15 (1.35) beats the composite's (1.75): the checkpoint
    # callback must not replace the composite by epoch 15
    {"epochs": 6, "lr": 0.0001, "correlation": True, "patience": 2},
]


class TwoNets(torch.nn.Module):
    """Two networks sharing no parameters, one per time scale (as GlassMLP's)."""

    def __init__(self) -> None:
        super().__init__()
        self.nets = torch.nn.ModuleList([torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)])

    def network_for(self, species: int, time: int) -> torch.nn.Module:
        return self.nets[time]

    def forward(self, x):
        return torch.cat([net(x) for net in self.nets], dim=1)


class TwoNetToy(Toy):
    """One species, two time scales; the networks' validation losses are scripted."""

    network_grid = ([0], 2)

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = TwoNets()
        del self.layer
        self.val_network_losses = None

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y.expand(-1, 2))

    def validation_step(self, batch, batch_idx):
        e = self.current_epoch
        self.log("val/loss", (NET_A[e] + NET_B[e]) / 2, on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        e = self.current_epoch
        self.val_network_losses = torch.tensor([[NET_A[e], NET_B[e]]])


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str = "") -> None:
    for k, v in a.items():
        torch.testing.assert_close(v, b[prefix + k])


def test_every_network_keeps_its_own_best_epoch_and_the_phase_waits_for_the_last(
    tmp_path,
) -> None:
    phases, probe = TrainingPhases(UNIT_PHASES), Probe()
    best = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path, filename="best", monitor=SELECTION_METRIC, mode="max", save_top_k=1
    )
    trainer = pl.Trainer(
        max_epochs=100,
        callbacks=[phases, probe, best],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(TwoNetToy())
    assert phases.units is not None and [u.entries for u in phases.units] == [[(0, 0)], [(0, 1)]]
    # phase epochs: 0-1 | 2-8 (until b is out of patience) | 9-10 | 11-15
    lrs = [probe.first_batch[e][0] for e in range(16)]
    assert lrs == [0.1] * 2 + [0.01] * 7 + [0.001] * 2 + [0.0001] * 5
    assert trainer.current_epoch == 16 and phases.finished
    # phase 3 starts from a's epoch 3 and b's epoch 5 (the joint mean was best at epoch 8)
    a = {k: v for k, v in probe.at_start[9].items() if k.startswith("net.nets.0.")}
    b = {k: v for k, v in probe.at_start[9].items() if k.startswith("net.nets.1.")}
    _same(a, probe.at_val[3])
    _same(b, probe.at_val[5])
    assert not torch.equal(
        probe.at_val[3]["net.nets.1.weight"], probe.at_val[5]["net.nets.1.weight"]
    )
    # the final model: a from epoch 12, b from epoch 13
    final = trainer.lightning_module.state_dict()
    _same({k: v for k, v in final.items() if ".nets.0." in k}, probe.at_val[12])
    _same({k: v for k, v in final.items() if ".nets.1." in k}, probe.at_val[13])
    # ... and it is the run's best checkpoint, scored minus the mean of the best losses
    assert best.best_model_score == pytest.approx(-(2.0 + 1.5) / 2)
    assert Path(best.best_model_path) == tmp_path / "best.ckpt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]
    saved = torch.load(tmp_path / "best.ckpt", weights_only=True)
    _same(saved["state_dict"], final)
    state = next(v for k, v in saved["callbacks"].items() if "ModelCheckpoint" in k)
    assert float(state["best_model_score"]) == pytest.approx(-1.75)


def test_resume_per_network_in_the_middle_of_a_phase(tmp_path) -> None:
    torch.use_deterministic_algorithms(True)
    try:
        reference = _trainer([TrainingPhases(UNIT_PHASES)])
        reference.fit(TwoNetToy())
        ckpt = tmp_path / "mid.ckpt"
        # epoch 6: phase 2, a out of patience (best epoch 3), b one epoch after its best
        first = TrainingPhases(UNIT_PHASES)
        _trainer([first, StopAndSave(6, ckpt)]).fit(TwoNetToy())
        assert [(u.best, u.wait, u.best_epoch) for u in first.units] == [(3.0, 3, 1), (2.0, 1, 3)]
        resumed = TrainingPhases(UNIT_PHASES)
        trainer = _trainer([resumed])
        trainer.fit(TwoNetToy(), ckpt_path=ckpt)
        assert resumed.finished and trainer.current_epoch == reference.current_epoch == 16
        _same(reference.lightning_module.state_dict(), trainer.lightning_module.state_dict())
    finally:
        torch.use_deterministic_algorithms(False)


def test_a_net_without_network_for_is_selected_jointly() -> None:
    phases = TrainingPhases(PHASES)
    _trainer([phases]).fit(Toy())
    assert phases.units is None


def test_resume_refuses_other_networks() -> None:
    phases = TrainingPhases(UNIT_PHASES)
    state = phases.state_dict()
    state["units"] = [{"name": "A_t00", "best": 1.0, "wait": 0, "best_epoch": 0}]
    phases.load_state_dict(state)
    with pytest.raises(ValueError, match="selection units"):
        _trainer([phases]).fit(TwoNetToy())
