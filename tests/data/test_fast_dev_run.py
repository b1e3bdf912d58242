"""Every public-dataset config and GlassBench experiment trains (fast_dev_run) with its
defaults on small files in the published layouts: no extra flag needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ..hydra_helpers import compose_config
from .real_layouts import write_bapst, write_glassbench

RUNS = {
    "experiment=glassbench/ka3d_T044": (3, 0.44, 10),
    "experiment=glassbench/ka3d_T050": (3, 0.50, 10),
    "experiment=glassbench/ka3d_T056": (3, 0.56, 10),
    "experiment=glassbench/ka3d_T064": (3, 0.64, 10),
    "experiment=glassbench/ka2d_T030": (2, 0.30, 6),
    "experiment=glassbench/ka2d_T023": (2, 0.23, 8),
    "dataset=glassbench_ka3d": (3, 0.44, 10),
    "dataset=glassbench_ka2d": (2, 0.30, 6),
    "dataset=bapst": ("bapst", None, 10),
    "experiment=bapst2020 dataset=bapst": ("bapst", None, 1),
}


# one batch of each split, on CPU, with no progress bar or online logger
FAST_DEV_RUN = [
    "trainer=cpu",
    "trainer.fast_dev_run=true",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]


@pytest.mark.parametrize("choice", sorted(RUNS))
def test_fast_dev_run_with_defaults(choice: str, tmp_path: Path) -> None:
    from glassml.training.train import train

    layout, temperature, n_outputs = RUNS[choice]
    if layout == "bapst":
        write_bapst(tmp_path / "bapst", n_train=3, n_test=2)
    else:
        n_times = 10 if layout == 3 else (6 if temperature == 0.30 else 8)
        write_glassbench(
            tmp_path / "glassbench", layout, temperature, n_train=3, n_test=2, n_times=n_times
        )
    cfg = compose_config(
        "train",
        [
            *choice.split(),
            f"paths.data_dir={tmp_path}",
            *FAST_DEV_RUN,
        ],
        tmp_path / "run",
    )
    train(cfg)
    report = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert len(report["time_indices"]) == n_outputs
    assert report["pearson"]["model"]["A"]["pooled"]
    if layout == "bapst":  # labelled by real time and by the ISF level of each row
        assert report["times"] == sorted(report["times"])
        assert report["is_values"][report["time_indices"].index(6)] == pytest.approx(np.exp(-1))
    elif layout == 3:
        assert report["tau_alpha_time_index"] == 6 and len(report["times"]) == 10


@pytest.mark.parametrize("temperature", [0.30, 0.23])
def test_ka2d_glass_mlp_takes_the_ternary_potential_from_the_dataset(
    temperature: float, tmp_path: Path
) -> None:
    """GlassBench KA 2D files store no simulator config: the energy descriptor of
    features=glass_mlp takes the dataset's 2D ternary (KA2-2D) potential with no extra flag."""
    from glassml.training.train import train

    n_times = 6 if temperature == 0.30 else 8
    write_glassbench(tmp_path / "glassbench", 2, temperature, n_train=3, n_test=2, n_times=n_times)
    tag = f"T{round(temperature * 100):03d}"
    cfg = compose_config(
        "train",
        [
            f"experiment=glassbench/ka2d_{tag}",
            "model=glass_mlp",
            "features=glass_mlp",
            f"paths.data_dir={tmp_path}",
            *FAST_DEV_RUN,
        ],
        tmp_path / "run",
    )
    assert cfg.dataset.node_features[0].potential == "ka2d_ternary"
    train(cfg)
    report = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert len(report["time_indices"]) == n_times
    assert report["pearson"]["model"]["A"]["pooled"]
    # and KA 3D keeps its own potential
    ka3d = compose_config("train", ["experiment=glassbench/ka3d_T044", "model=glass_mlp"])
    assert ka3d.dataset.node_features[0].potential == "ka3d"


def test_specs_without_a_potential_take_the_datasets() -> None:
    from glassml.data.datamodule import GlassDataModule

    specs = [{"name": "energy", "potential": None}, {"name": "energy", "potential": "ka3d"}]
    dm = GlassDataModule(root=".", node_features=specs, potential="ka2d_ternary")
    assert [s.potential for s in dm.node_feature_specs] == ["ka2d_ternary", "ka3d"]
