"""W&B tracking of sweep jobs (offline): group, tags, artifacts; mode from the environment."""

from __future__ import annotations

from glassml.training.tracking import sweep_group, wandb_mode
from tests.wandb_helpers import wait_for_record

from .conftest import tiny_run


def test_mode_is_offline_unless_asked_or_keyed(monkeypatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert wandb_mode(None) == "offline"
    assert wandb_mode("online") == "online"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode(None) == "online"
    assert sweep_group("bapst-study") == "bapst-study"  # Optuna trials: the study


def test_multirun_job_is_grouped_tagged_and_logs_artifacts(
    sweep_data, tmp_path, glassml_train, monkeypatch
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    sweep = tmp_path / "grid" / "sweep"
    args = [a for a in tiny_run(sweep_data, tmp_path) if a not in ("logger=csv", "test=false")]
    glassml_train("-m", "seed=7", *args, "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}")
    (run,) = (sweep / "0" / "wandb").glob("offline-run-*")
    record = wait_for_record(run, b"dataset.json", b"test_report")
    assert b"grid_sweep" in record  # group: the multirun folder
    assert b"model=bapst_quick" in record and b"dataset=generated" in record  # tags
    run_id = run.name.rsplit("-", 1)[-1]
    assert f"model-{run_id}".encode() in record and b"best.ckpt" in record  # best checkpoint
    assert b"dataset-generated" in record and b"dataset.json" in record  # dataset description
