"""GPU training options, checked on the CPU where possible: mixed precision, TF32 switch,
graphs kept on the accelerator; the GPU run itself is skipped without a GPU."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from glassml.training.train import build_trainer, train

FAST = ["trainer.fast_dev_run=true", "logger=csv"]


def _pearsons(path) -> list[float]:
    """The model's pooled test Pearson values of species A in a run's test_metrics.json."""
    report = json.loads((path / "test_metrics.json").read_text())
    return report["pearson"]["model"]["A"]["pooled"]


@pytest.fixture
def restore_matmul_precision():
    before = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(before)


def test_matmul_precision_is_applied_and_checked(compose_train, restore_matmul_precision, tmp_path):
    cfg = compose_train(["trainer=cpu", "trainer.matmul_precision=high"], tmp_path)
    trainer = build_trainer(cfg.trainer, logger=False)
    assert torch.get_float32_matmul_precision() == "high"
    assert trainer.max_epochs == cfg.trainer.max_epochs
    cfg = compose_train(["trainer=cpu", "trainer.matmul_precision=tf32"], tmp_path)
    with pytest.raises(ValueError, match="trainer.matmul_precision"):
        build_trainer(cfg.trainer, logger=False)


def test_gpu_trainer_config(compose_train):
    cfg = compose_train(["trainer=gpu"])
    assert cfg.trainer.accelerator == "gpu"
    assert cfg.trainer.precision == 32 and cfg.trainer.matmul_precision == "high"
    assert cfg.dataset.keep_on_device == "auto"


@pytest.mark.parametrize("model", ["bapst_quick", "se3_gnn_quick"])
def test_bf16_mixed_training_runs(model, synthetic_roots, compose_train, tmp_path):
    """bf16 autocast through both model families (on the CPU here, as on a GPU)."""
    root = synthetic_roots["native"]
    overrides = [f"model={model}", "trainer=cpu", "trainer.precision=bf16-mixed", *FAST]
    cfg = compose_train([*overrides, "dataset=generated", f"dataset.root={root}"], tmp_path)
    train(cfg)
    values = _pearsons(tmp_path)
    assert values and all(v is not None and math.isfinite(v) for v in values)


def _datamodule(compose_train, root, *overrides):
    cfg = compose_train(["dataset=generated", f"dataset.root={root}", *overrides])
    dm = instantiate(cfg.dataset)
    dm.setup()
    return dm


def _fake_trainer(device: str):
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))


def test_graphs_move_to_the_accelerator_once(synthetic_roots, compose_train):
    dm = _datamodule(compose_train, synthetic_roots["native"])
    dm.trainer = _fake_trainer("cpu")
    dm.train_dataloader()
    assert dm.graph_device is None  # a CPU trainer: graphs stay where they are
    dm.trainer = _fake_trainer("meta")  # stands in for a GPU: tensors move, no data
    loader = dm.val_dataloader()
    assert dm.graph_device == torch.device("meta")
    assert all(g.edge_attr.device.type == "meta" for g in dm.datasets["train"].graphs)
    assert loader.num_workers == 0 and not loader.pin_memory
    before = dm.datasets["train"].graphs
    dm.train_dataloader()
    assert dm.datasets["train"].graphs is before  # moved once, not per loader


def test_keep_on_device_options(synthetic_roots, compose_train):
    root = synthetic_roots["native"]
    dm = _datamodule(compose_train, root, "dataset.keep_on_device=false")
    dm.trainer = _fake_trainer("meta")
    dm.train_dataloader()
    assert dm.graph_device is None
    dm = _datamodule(compose_train, root, "dataset.num_workers=2")  # auto: workers win
    dm.trainer = _fake_trainer("meta")
    assert dm._accelerator() is None
    dm = _datamodule(compose_train, root, "dataset.keep_on_device=true", "dataset.num_workers=2")
    dm.trainer = _fake_trainer("meta")
    with pytest.raises(ValueError, match="num_workers=0"):
        dm.train_dataloader()
    with pytest.raises(InstantiationException, match="dataset.keep_on_device"):
        _datamodule(compose_train, root, "dataset.keep_on_device=maybe")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model", ["bapst_quick", "se3_gnn_quick"])
def test_gpu_training_with_graphs_on_the_device(model, synthetic_roots, compose_train, tmp_path):
    root = synthetic_roots["native"]
    cfg = compose_train(
        [f"model={model}", "trainer=gpu", *FAST, "dataset=generated", f"dataset.root={root}"],
        tmp_path,
    )
    train(cfg)
    values = _pearsons(tmp_path)
    assert values and all(v is not None and math.isfinite(v) for v in values)
