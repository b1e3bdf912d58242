"""The entry points run from any folder: project root by marker, sample shipped with glassml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from glassml.project import ROOT_MARKER, config_dir, project_root, sample_dir

REPO = Path(__file__).resolve().parents[2]


def test_project_root_inside_and_outside_the_repository(tmp_path: Path) -> None:
    assert (REPO / ROOT_MARKER).is_file()
    assert project_root(REPO / "src" / "glassml") == REPO
    assert project_root(tmp_path) == tmp_path.resolve()
    assert (config_dir() / "train.yaml").is_file()


def test_sample_found_without_a_local_copy(tmp_path: Path) -> None:
    assert sample_dir(REPO / "data") == REPO / "data" / "sample"
    shipped = sample_dir(tmp_path / "data")  # no sample there: the package's copy
    assert shipped != tmp_path / "data" / "sample"
    assert len(list(shipped.glob("config_*.npz"))) == len(
        list((REPO / "data" / "sample").glob("config_*.npz"))
    )


def test_train_sample_quick_from_a_folder_outside_the_repository(tmp_path: Path) -> None:
    src = str(REPO / "src")
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "HYDRA_FULL_ERROR": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("GLASSML_ROOT", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "glassml.cli.train",
            "experiment=sample_quick",
            "trainer.fast_dev_run=true",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((tmp_path / "outputs").glob("*/*_train"))
    assert len(runs) == 1 and (runs[0] / "config_resolved.yaml").is_file()
    assert "sample" in (runs[0] / "config_resolved.yaml").read_text()
