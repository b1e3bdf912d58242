"""`ckpt_path=last` after a killed run resumes exactly; a resumed run keeps its W&B run id.

The interrupted run is a real `glassml-train` process killed with SIGKILL in the middle of
an epoch (as a preempted job); the resumed run must continue from the last checkpoint
with the same epoch, step and optimiser state and end with the weights of a run that was
never interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from glassml.training.resume import RESUME_KEY, read_resume_state
from glassml.training.train import train

REPO = Path(__file__).resolve().parents[2]

# 8 files: 2 test, 1 validation, 5 training configurations = 5 steps per epoch
RUN = [
    "dataset=generated",
    "model=bapst_quick",
    "model.net.hidden=8",
    "trainer=cpu",
    "trainer.max_epochs=4",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "callbacks.model_summary=null",
    "callbacks.early_stopping=null",
    "test=false",
]
KILL_STEP = 12  # mid third epoch: last.ckpt is from the end of the second (step 10)


class KillAtStep(pl.Callback):
    """Kill the process like a preemption (no cleanup) once `step` steps are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordStart(pl.Callback):
    """Write the epoch and step at which training (re)starts into `<run dir>/start`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_start(self, trainer: pl.Trainer, *args) -> None:
        Path(self.path).write_text(f"{trainer.current_epoch} {trainer.global_step}")


def _record_start() -> list[str]:
    return [
        "+callbacks.start._target_=tests.training.test_resume.RecordStart",
        "+callbacks.start.path=${paths.output_dir}/start",
    ]


@pytest.fixture
def one_thread():
    """Bit-equal float sums in this process and in the single-threaded subprocess."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_killed_run_resumes_exactly(synthetic_roots, compose_train, tmp_path, one_thread) -> None:
    root = synthetic_roots["native"]
    data = [f"dataset.root={root}", f"paths.cache_dir={tmp_path}/cache"]
    run = tmp_path / "interrupted"
    kill = [
        "+callbacks.kill._target_=tests.training.test_resume.KillAtStep",
        f"+callbacks.kill.step={KILL_STEP}",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "glassml.cli.train", *RUN, *data, *kill, f"hydra.run.dir={run}"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    last = run / "checkpoints" / "last.ckpt"
    saved = _load(last)
    assert (saved["epoch"], saved["global_step"]) == (1, 10)
    assert RESUME_KEY in saved

    # resume in the interrupted run's directory with ckpt_path=last
    cfg = compose_train([*RUN, *data, "ckpt_path=last", *_record_start()], run)
    train(cfg)
    resumed = _load(last)

    ref_dir = tmp_path / "uninterrupted"
    train(compose_train([*RUN, *data, *_record_start()], ref_dir))
    ref = _load(ref_dir / "checkpoints" / "last.ckpt")

    starts = [tuple(map(int, p.read_text().split())) for p in (run / "start", ref_dir / "start")]
    assert starts == [(2, 10), (0, 0)]  # epoch and step where each fit began
    assert resumed["global_step"] == ref["global_step"] == 20
    for k, v in ref["state_dict"].items():
        assert torch.equal(resumed["state_dict"][k], v), k
    opt_ref, opt_res = ref["optimizer_states"][0], resumed["optimizer_states"][0]
    for pid, st in opt_ref["state"].items():
        for name, tensor in st.items():
            assert torch.equal(opt_res["state"][pid][name], tensor), (pid, name)
    assert resumed["lr_schedulers"] == ref["lr_schedulers"]


def test_resumed_run_continues_the_same_wandb_run(
    synthetic_roots, compose_train, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    root = synthetic_roots["native"]
    base = [*RUN[:4], "trainer.max_epochs=1", "logger=wandb", *RUN[6:]]
    data = [f"dataset.root={root}", f"paths.cache_dir={tmp_path}/cache"]
    first = tmp_path / "first"
    train(compose_train([*base, *data, "logger.wandb.log_dataset=false"], first))
    run_id = read_resume_state(str(first / "checkpoints" / "last.ckpt"))["wandb_run_id"]
    assert run_id and list((first / "wandb").glob(f"offline-run-*-{run_id}"))

    second = tmp_path / "second"
    ckpt = first / "checkpoints" / "last.ckpt"
    train(compose_train([*base, *data, "trainer.max_epochs=2", f"ckpt_path={ckpt}"], second))
    assert list((second / "wandb").glob(f"offline-run-*-{run_id}"))
    assert read_resume_state(str(second / "checkpoints" / "last.ckpt"))["wandb_run_id"] == run_id
    time.sleep(0)  # the W&B service flushes in the background; nothing else to wait for


def test_last_checkpoint_holds_the_epochs_checkpoint_record(
    synthetic_roots, compose_train, tmp_path
) -> None:
    """With validation every epoch, ModelCheckpoint records the epoch's score at the epoch's
    end; last.ckpt, written then too, must hold that record (a resumed run compares its
    next scores with it), not the one of the epoch before."""
    run = tmp_path / "run"
    overrides = [*RUN, "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1"]
    train(compose_train([*overrides, f"dataset.root={synthetic_roots['native']}"], run))
    last = _load(run / "checkpoints" / "last.ckpt")
    best = _load(run / "checkpoints" / "best.ckpt")
    (record,) = [v for k, v in last["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert record["best_model_score"] is not None
    assert record["best_model_path"] == str(run / "checkpoints" / "best.ckpt")
    assert last["epoch"] == best["epoch"] == 0
