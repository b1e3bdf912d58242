"""W&B record of sorting runs (offline): what is logged and where."""

from __future__ import annotations

import time

from glassml.cli.simulate import simulate
from glassml.sorting.tracking import flat_scalars
from tests.hydra_helpers import compose_config


def test_flat_scalars_keep_numbers_only():
    summary = {
        "stationary": {"density": {"mean": 0.1, "err": 0.01}, "ok": True},
        "sorting": {"residence_time_little": 12.5, "note": "text"},
        "params": {"g": 0.1},
    }
    assert flat_scalars(summary) == {
        "stationary/density/mean": 0.1,
        "stationary/density/err": 0.01,
        "sorting/residence_time_little": 12.5,
    }


def test_sorting_run_logged_offline_to_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    cfg = compose_config(
        "simulate",
        [
            "simulator=sorting",
            "simulator.L=24",
            "simulator.M=10",
            "simulator.phi=3e-3",
            "simulator.t_end=500",
            "simulator.n_samples=40",
            "simulator.snapshots=4",
            "simulator.progress=false",
            f"simulator.output_dir={out}",
            "tracking.wandb=true",
            "tracking.mode=offline",
            "tracking.group=test-group",
        ],
    )
    simulate(cfg)
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # offline runs keep config and summary in the run's .wandb record file, which the
    # wandb service finishes writing shortly after wandb.finish() returns
    record_file = next(runs[0].glob("run-*.wandb"))
    for _ in range(60):
        record = record_file.read_bytes()
        if b"stationary/density/mean" in record:
            break
        time.sleep(0.5)
    assert b"stationary/density/mean" in record and b"test-group" in record
    pngs = {p.stem for p in out.glob("*.png")}
    logged = {p.stem.rsplit("_", 2)[0] for p in runs[0].rglob("media/images/*.png")}
    assert pngs and pngs == logged
