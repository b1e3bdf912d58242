"""`train` end to end with fast_dev_run for every dataset config, and config composition."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException
from hydra.utils import instantiate

from glassml.data import DatasetNotFoundError
from glassml.data.datamodule import DataInfo
from glassml.training.config import config_dir, to_container
from glassml.training.train import build_trainer, train
from tests.wandb_helpers import wait_for_record

FAST = ["trainer=cpu", "trainer.fast_dev_run=true", "logger=csv"]

DATASETS = {
    "sample": ("native", []),
    "generated": ("native", []),
    "glassbench_ka3d": ("glassbench3d", []),
    # the synthetic 2D files have their own box: derive it from N and the density
    "glassbench_ka2d": ("glassbench2d", ["dataset.reader.box=null", "+dataset.reader.density=1.2"]),
    "bapst": ("bapst", []),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_fast_dev_run_every_dataset(name, synthetic_roots, compose_train, tmp_path) -> None:
    layout, extra = DATASETS[name]
    overrides = [f"dataset={name}", f"dataset.root={synthetic_roots[layout]}", *FAST, *extra]
    cfg = compose_train(overrides, tmp_path)
    metrics = train(cfg)
    assert "train/loss_step" in metrics or "train/loss" in metrics
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["pearson"]["model"]["A"]["pooled"]
    assert report["pearson"]["baseline_local_density"]["A"]["pooled"]
    # the baseline is shown for the species the model was trained on only (A by default)
    assert sorted(report["pearson"]["baseline_local_density"]) == report["train_species"]
    assert (tmp_path / "config_resolved.yaml").is_file()


def test_bapst2020_experiment_runs(synthetic_roots, compose_train, tmp_path, caplog) -> None:
    overrides = [
        "experiment=bapst2020",
        "dataset=glassbench_ka3d",
        f"dataset.root={synthetic_roots['glassbench3d']}",
        *FAST,
    ]
    cfg = compose_train(overrides, tmp_path)
    assert cfg.trainer.max_steps == 400_000 and cfg.model.optimizer.lr == 1e-4
    # the reference's choices: raw targets, best mean per-configuration Pearson, no early stop
    assert cfg.dataset.standardize_targets is False and cfg.dataset.train_species == [0]
    assert cfg.callbacks.model_checkpoint.monitor == "val/pearson_cfg_A_tau"
    assert cfg.optimized_metric == "val/pearson_cfg_A_tau"
    assert cfg.callbacks.early_stopping is None
    with caplog.at_level(logging.INFO, logger="glassml.training.module"):
        train(cfg)
    assert "species B not in dataset.train_species" in caplog.text
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["time_indices"] == [6] and report["n_params"] == 70_721
    # species B is trained by no loss: its output is not reported as a prediction
    assert set(report["pearson"]["model"]) == {"A"}


def test_short_run_with_wandb_offline(synthetic_roots, compose_train, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    overrides = [
        "dataset=generated",
        f"dataset.root={synthetic_roots['native']}",
        "trainer=cpu",
        "trainer.max_epochs=2",
        "model=bapst_quick",
        "model.net.hidden=8",
        "logger=wandb",
        "callbacks.rich_progress_bar=null",
    ]
    cfg = compose_train(overrides, tmp_path)
    train(cfg)
    # one "last" checkpoint (written by ResumeState every epoch), no last-v1.ckpt
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "best.ckpt",
        "last.ckpt",
    ]
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    record = wait_for_record(runs[0], b"test_report")
    assert b"glassml.data.datamodule.GlassDataModule" in record  # the resolved config
    assert b"val/pearson_A_tau" in record and b"test_report" in record


def test_missing_dataset_names_path_and_make_target(compose_train, tmp_path) -> None:
    cfg = compose_train(["dataset=sample", f"dataset.root={tmp_path}/absent", *FAST], tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"absent does not exist.*make sample-data"):
        train(cfg)


def test_unknown_names_list_the_options(compose_train) -> None:
    with pytest.raises(MissingConfigException, match=r"(?s)Available options.*bapst"):
        compose_train(["model=no_such_model"])
    with pytest.raises(MissingConfigException, match=r"(?s)Available options.*glassbench_ka3d"):
        compose_train(["dataset=no_such_dataset"])


def _fake_info() -> DataInfo:
    return DataInfo(3, 2, [0, 6], None, 1, [0.0, 0.0], [1.0, 1.0], [0])


def _propensity_configs(group: str) -> list[str]:
    """Config names of a group, without the sorting-fate task (tests/sorting runs those)."""
    names = (p.stem for p in (config_dir() / group).glob("*.yaml"))
    return sorted(n for n in names if not n.startswith("sorting_"))


@pytest.mark.parametrize("experiment", _propensity_configs("experiment"))
def test_every_experiment_composes(experiment, compose_train, tmp_path) -> None:
    cfg = compose_train([f"experiment={experiment}"], tmp_path)
    resolved = to_container(cfg)
    assert resolved["dataset"]["_target_"].endswith("GlassDataModule")
    instantiate(cfg.model, data_info=_fake_info())
    instantiate(cfg.dataset)
    for group in ("callbacks", "logger"):
        for c in (cfg.get(group) or {}).values():
            assert c is None or "_target_" in c  # null switches a callback off


@pytest.mark.parametrize("dataset", _propensity_configs("dataset"))
def test_every_dataset_config_resolves(dataset, compose_train, tmp_path) -> None:
    cfg = compose_train([f"dataset={dataset}", "dataset.root=somewhere"], tmp_path)
    dm = instantiate(cfg.dataset)
    assert Path(dm.root).name == "somewhere"


def test_sample_quick_is_reproducible_by_construction(compose_train, tmp_path) -> None:
    """`make train`: a fixed schedule (no wall-clock cap, no early stop), one CPU thread,
    deterministic algorithms, a seed."""
    cfg = compose_train(["experiment=sample_quick"], tmp_path)
    assert cfg.trainer.max_time is None and cfg.callbacks.early_stopping is None
    assert cfg.trainer.num_threads == 1 and cfg.trainer.deterministic is True
    assert isinstance(cfg.seed, int) and cfg.trainer.max_epochs > 0


def test_bad_num_threads_is_named(compose_train, tmp_path) -> None:
    cfg = compose_train(["trainer=cpu", "trainer.num_threads=0"], tmp_path)
    with pytest.raises(ValueError, match="trainer.num_threads"):
        build_trainer(cfg.trainer)
