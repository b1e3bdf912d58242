"""The GlassBench experiment files compose with every model and point at the download layout."""

from __future__ import annotations

import pytest

from glassml.training.config import config_dir

from ..hydra_helpers import compose_config

TASKS = {
    "ka3d_T044": ("glassbench_ka3d", 0.44, "KA_models/T0.44"),
    "ka3d_T050": ("glassbench_ka3d", 0.50, "KA_models/T0.50"),
    "ka3d_T056": ("glassbench_ka3d", 0.56, "KA_models/T0.56"),
    "ka3d_T064": ("glassbench_ka3d", 0.64, "KA_models/T0.64"),
    "ka2d_T030": ("glassbench_ka2d", 0.30, "KA2D_models/T0.30"),
    "ka2d_T023": ("glassbench_ka2d", 0.23, "KA2D_models/T0.23"),
}
MODELS = ["bapst", "se3_gnn", "glass_mlp", "ridge"]


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("model", MODELS)
def test_experiment_composes(task: str, model: str) -> None:
    if not (config_dir() / "model" / f"{model}.yaml").is_file():
        pytest.skip(f"model config {model} not present")
    cfg = compose_config(
        "train", [f"experiment=glassbench/{task}", f"model={model}", "paths.data_dir=/d"]
    )
    prefix, temperature, sub = TASKS[task]
    assert cfg.dataset.temperature == temperature
    assert cfg.dataset.name == f"{prefix}_T{temperature:.2f}"
    assert cfg.dataset.root == f"/d/glassbench/{sub}"
    assert cfg.dataset.train_glob == "train/*.npz" and cfg.dataset.test_glob == "test/*.npz"
    assert cfg.dataset.tau_alpha_index is None  # derived from the grid and tau_alpha
    assert f"T{temperature:.2f}" in cfg.tags
    assert float(cfg.dataset.reader.tau_alpha_by_temperature[f"{temperature:.2f}"]) > 0
    if task == "ka3d_T044":
        assert list(cfg.dataset.reader.times_by_temperature["0.44"])[6] == 4120.0
