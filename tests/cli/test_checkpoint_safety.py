"""Checkpoints are loaded as data: a file that asks to run code is refused by name."""

from __future__ import annotations

import operator
import os
from pathlib import Path

import pytest
import torch

from glassml.evaluation.evaluate import evaluate, load_checkpoint
from glassml.training.checkpoint import (
    CheckpointError,
    UntrustedCheckpointError,
    load_checkpoint_file,
)
from glassml.training.resume import read_resume_state

from ..cli_helpers import run_module
from ..hydra_helpers import QUICK_TRAIN


class _ShellCall:
    """Pickles as a call of os.system: what a crafted checkpoint would carry."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _HarmlessCall:
    def __reduce__(self):
        return (operator.add, (1, 2))


def crafted_checkpoint(path: Path, real: Path, payload: object) -> Path:
    """Our real checkpoint with one extra entry whose unpickling calls a function."""
    ckpt = torch.load(real, map_location="cpu", weights_only=True)
    ckpt["glassml"]["extra"] = payload
    torch.save(ckpt, path)
    return path


def test_our_checkpoints_load_weights_only(trained_run: Path) -> None:
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = load_checkpoint_file(trained_run / "checkpoints" / name)
        assert "state_dict" in ckpt and "glassml" in ckpt
    assert "rng" in read_resume_state(str(trained_run / "checkpoints" / "last.ckpt"))


def test_function_call_is_refused_and_never_runs(trained_run, tmp_path, compose) -> None:
    marker = tmp_path / "ran"
    evil = crafted_checkpoint(
        tmp_path / "evil.ckpt",
        trained_run / "checkpoints" / "best.ckpt",
        _ShellCall(f"touch {marker}"),
    )
    cfg = compose("evaluate", [f"ckpt_path={evil}"], tmp_path / "eval")
    with pytest.raises(UntrustedCheckpointError, match=r"evil\.ckpt asks for posix\.system"):
        evaluate(cfg)
    with pytest.raises(UntrustedCheckpointError, match="posix.system"):
        read_resume_state(str(evil))
    assert not marker.exists()


def test_trust_checkpoint_unpickles_everything(trained_run, tmp_path) -> None:
    path = crafted_checkpoint(
        tmp_path / "call.ckpt", trained_run / "checkpoints" / "best.ckpt", _HarmlessCall()
    )
    with pytest.raises(UntrustedCheckpointError, match="_operator.add"):
        load_checkpoint(path)
    ckpt, _, info = load_checkpoint(path, trust=True)
    assert ckpt["glassml"]["extra"] == 3 and info.num_targets == 4


def test_resume_refuses_crafted_checkpoint(trained_run, dataset_root, tmp_path, compose):
    from glassml.training.train import train

    marker = tmp_path / "ran"
    evil = crafted_checkpoint(
        tmp_path / "evil.ckpt",
        trained_run / "checkpoints" / "last.ckpt",
        _ShellCall(f"touch {marker}"),
    )
    cfg = compose(
        "train",
        [
            "dataset=generated",
            f"dataset.root={dataset_root}",
            *QUICK_TRAIN,
            f"ckpt_path={evil}",
        ],
        tmp_path / "run",
    )
    with pytest.raises(UntrustedCheckpointError, match="posix.system"):
        train(cfg)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"not a checkpoint\n", b"\x80\x04K\x01."])
def test_not_a_checkpoint_names_the_file(tmp_path: Path, content: bytes) -> None:
    bogus = tmp_path / "notes.ckpt"
    bogus.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"notes\.ckpt is not a PyTorch checkpoint"):
        load_checkpoint_file(bogus)


def test_evaluate_command_names_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint\n")
    proc = run_module(
        "glassml.cli.evaluate",
        f"ckpt_path={bogus}",
        cwd=tmp_path,
        env={"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"},
    )
    assert proc.returncode == 1
    assert f"{bogus} is not a PyTorch checkpoint" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
