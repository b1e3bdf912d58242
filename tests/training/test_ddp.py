"""trainer=ddp on CPU (2 processes, gloo) against a single process on the same data.

The DDP run shards validation and test over the ranks; its logged Pearson metrics must be
those of the whole split (metric states gathered, not per-rank values averaged), so a
single process validating the same checkpoint must find the same numbers. The splits
have an even number of configurations, so DistributedSampler repeats none.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from glassml.data.synthetic import write_synthetic_dataset
from glassml.training.train import build_trainer

from ..cli_helpers import run_module

# 10 files: 2 test (test_fraction 0.25 -> round(2.5) = 2), 2 validation, 6 training
DATA = [
    "dataset=generated",
    "dataset.val_fraction=0.25",
    "dataset.eval_batch_size=1",
    "model=bapst_quick",
    "model.net.hidden=8",
    "trainer.max_epochs=2",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "callbacks.model_summary=null",
]


def _best_epoch_row(metrics_csv: Path, best_score: float) -> dict[str, float]:
    rows = [r for r in csv.DictReader(metrics_csv.open()) if r.get("val/pearson_A_tau")]
    row = min(rows, key=lambda r: abs(float(r["val/pearson_A_tau"]) - best_score))
    return {k: float(v) for k, v in row.items() if k.startswith("val/") and v}


def test_ddp_two_cpu_processes_match_single_process(tmp_path, compose_train) -> None:
    root = tmp_path / "data"
    write_synthetic_dataset(root, n_configs=10, n_particles=48, n_times=4)
    run = tmp_path / "ddp"
    args = [
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"dataset.root={root}",
        f"paths.cache_dir={tmp_path}/cache",
        f"hydra.run.dir={run}",
        *DATA,
    ]
    res = run_module(
        "glassml.cli.train",
        *args,
        env={"OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"},
        timeout=400,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    assert "world_size=2" in res.stderr or "GLOBAL_RANK: 1" in res.stderr + res.stdout

    best = run / "checkpoints" / "best.ckpt"
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
    ddp_val = _best_epoch_row(run / "csv" / "version_0" / "metrics.csv", state["best_model_score"])
    ddp_test = json.loads((run / "test_metrics.json").read_text())

    # the same checkpoint, validated and tested by one process on the same splits
    single = tmp_path / "single"
    cfg = compose_train([f"dataset.root={root}", "trainer=cpu", *DATA], single)
    datamodule = instantiate(cfg.dataset)
    datamodule.setup()
    assert len(datamodule.files["val"]) == 2 and len(datamodule.files["test"]) == 2
    module = instantiate(cfg.model, data_info=datamodule.info)
    trainer = build_trainer(cfg.trainer, logger=False, enable_progress_bar=False)
    (val,) = trainer.validate(module, datamodule=datamodule, ckpt_path=str(best), verbose=False)
    (test,) = trainer.test(module, datamodule=datamodule, ckpt_path=str(best), verbose=False)

    assert float(state["best_model_score"]) == pytest.approx(val["val/pearson_A_tau"], abs=1e-6)
    pearsons = [k for k in ddp_val if k.startswith("val/pearson")]
    assert len(pearsons) >= 10
    for key in [*pearsons, "val/loss"]:
        assert ddp_val[key] == pytest.approx(val[key], abs=2e-6), key
    # the comparison discriminates: one rank's half of the split gives other numbers
    datamodule.datasets["val"].graphs = datamodule.datasets["val"].graphs[:1]
    (half,) = trainer.validate(module, datamodule=datamodule, ckpt_path=str(best), verbose=False)
    assert abs(half["val/pearson_A_tau"] - val["val/pearson_A_tau"]) > 1e-3

    model = ddp_test["pearson"]["model"]["A"]
    for k, t in enumerate(datamodule.info.time_indices):
        assert model["pooled"][k] == pytest.approx(test[f"test/pearson_A_t{t:02d}"], abs=1e-5)
