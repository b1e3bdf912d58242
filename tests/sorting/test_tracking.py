"""W&B record of sorting runs (offline): what is logged and where."""

from __future__ import annotations

from glassml.cli.simulate import simulate
from glassml.sorting.tracking import flat_scalars
from tests.hydra_helpers import compose_config
from tests.wandb_helpers import wait_for_record


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
    record = wait_for_record(runs[0], b"stationary/density/mean")
    assert b"stationary/density/mean" in record and b"test-group" in record
    pngs = {p.stem for p in out.glob("*.png")}
    logged = {p.stem.rsplit("_", 2)[0] for p in runs[0].rglob("media/images/*.png")}
    assert pngs and pngs == logged
