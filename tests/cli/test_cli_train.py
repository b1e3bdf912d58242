"""glassml-train / glassml-evaluate: the Hydra entry points and the evaluation outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from glassml.evaluation.evaluate import evaluate

from ..cli_helpers import run_module


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return run_module(module, *args, env={"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"})


def test_evaluate_writes_predictions_metrics_and_plots(trained_run, tmp_path, compose) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    assert ckpt.is_file()
    cfg = compose("evaluate", [f"ckpt_path={ckpt}"], tmp_path)
    report = evaluate(cfg)
    for name in ("predictions.npz", "metrics.json", "pearson_vs_time.png"):
        assert (tmp_path / name).is_file(), name
    assert list(tmp_path.glob("config_0_t*.png"))
    with np.load(tmp_path / "predictions.npz") as f:
        assert f["predictions"].shape == f["targets"].shape
        assert f["predictions"].shape[1] == 4
        assert len(f["files"]) == report["n_configs"]
        assert set(np.unique(f["config_index"])) == set(range(report["n_configs"]))
    # the same checkpoint on the same split gives the numbers train reported
    trained = json.loads((trained_run / "test_metrics.json").read_text())
    np.testing.assert_allclose(
        report["pearson"]["model"]["A"]["pooled"],
        trained["pearson"]["model"]["A"]["pooled"],
        atol=1e-4,
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["split"] == "test"


def test_evaluate_rejects_foreign_checkpoint(tmp_path: Path, compose) -> None:
    import torch

    bogus = tmp_path / "x.ckpt"
    torch.save({"state_dict": {}}, bogus)
    cfg = compose("evaluate", [f"ckpt_path={bogus}"], tmp_path)
    with pytest.raises(ValueError, match="not a glassml-train checkpoint"):
        evaluate(cfg)


def test_train_cli_fast_dev_run(dataset_root: Path, tmp_path: Path) -> None:
    res = run_cli(
        "glassml.cli.train",
        "dataset=generated",
        f"dataset.root={dataset_root}",
        "trainer.fast_dev_run=true",
        "logger=csv",
        f"paths.cache_dir={tmp_path}/cache",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Test Pearson correlation" in res.stdout
    assert (tmp_path / "run" / "test_metrics.json").is_file()
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()


def test_evaluate_cli(trained_run: Path, tmp_path: Path) -> None:
    res = run_cli(
        "glassml.cli.evaluate",
        f"ckpt_path={trained_run / 'checkpoints' / 'best.ckpt'}",
        "split=val",
        f"hydra.run.dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Val Pearson correlation" in res.stdout
    assert (tmp_path / "metrics.json").is_file()


def test_unknown_model_lists_options() -> None:
    res = run_cli("glassml.cli.train", "model=nope")
    assert res.returncode != 0
    assert "Available options in 'model'" in res.stderr and "bapst" in res.stderr
