"""glassml-simulate: config composition, the job it runs, and its errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import yaml
from hydra import compose, initialize_config_dir

from glassml.cli import CONFIG_DIR
from glassml.cli.simulate import simulate

TINY = [
    "simulator=ka2d",
    "simulator.N=120",
    "simulator.T=1.0",
    "simulator.tau_alpha=0.5",
    "simulator.melt_time=0.5",
    "simulator.equilibration_taus=1",
    "simulator.spacing_taus=1",
    "simulator.n_configs=1",
    "simulator.n_iso=2",
    "simulator.workers=1",
    "simulator.cage_time=0.05",
    "simulator.times.min=0.05",
    "simulator.times.max=0.1",
    "simulator.times.num=2",
]


def test_compose_and_run_writes_a_dataset_with_its_config(tmp_path):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("simulate", overrides=[*TINY, f"simulator.output_dir={tmp_path}"])
    out = simulate(cfg)
    with np.load(out / "config_0000.npz") as f:
        assert f["md_prop"].shape == (2, 120)
        recorded = yaml.safe_load(str(f["config"]))
        assert recorded["simulator"]["N"] == 120 and recorded["simulator"]["name"] == "ka2d"


def _cli(*args: str) -> subprocess.CompletedProcess:
    code = "from glassml.cli.simulate import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )


def test_impossible_parameter_exits_with_a_message_naming_the_key(tmp_path):
    res = _cli(
        "simulator.T=-0.5",
        f"simulator.output_dir={tmp_path}",
        "hydra.run.dir=" + str(tmp_path / "run"),
    )
    assert res.returncode == 1
    assert "simulator.T must be a positive number" in res.stderr + res.stdout
    assert not list(tmp_path.glob("config_*.npz"))


def test_unknown_simulator_lists_the_available_ones(tmp_path):
    res = _cli("simulator=nope", "hydra.run.dir=" + str(tmp_path / "run"))
    assert res.returncode != 0
    assert "ka3d" in res.stderr and "ka2d_ternary" in res.stderr
