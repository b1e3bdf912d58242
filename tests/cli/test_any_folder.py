"""The entry points run from any folder: project root by marker, sample shipped with glassml."""

from __future__ import annotations

from pathlib import Path

from glassml.project import ROOT_MARKER, config_dir, project_root, sample_dir

from ..cli_helpers import REPO, run_module


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
    proc = run_module(
        "glassml.cli.train",
        "experiment=sample_quick",
        "trainer.fast_dev_run=true",
        cwd=tmp_path,
        env={"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", "GLASSML_ROOT": None},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((tmp_path / "outputs").glob("*/*_train"))
    assert len(runs) == 1 and (runs[0] / "config_resolved.yaml").is_file()
    assert "sample" in (runs[0] / "config_resolved.yaml").read_text()
