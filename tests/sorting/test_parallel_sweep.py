"""A sorting sweep run in parallel processes (Hydra joblib launcher), then the sweep report."""

from __future__ import annotations

import json
import subprocess
import sys

from glassml.sorting import report


def test_joblib_multirun_of_two_runs_then_report(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "glassml.cli.simulate",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "simulator=sorting",
        "simulator.L=24",
        "simulator.M=10",
        "simulator.t_end=800",
        "simulator.n_samples=40",
        "simulator.snapshots=4",
        "simulator.phi=1e-3,3e-3",
        "simulator.progress=false",
        f"hydra.sweep.dir={tmp_path}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    phis = sorted(
        json.loads((tmp_path / k / "summary.json").read_text())["params"]["phi"] for k in "01"
    )
    assert phis == [1e-3, 3e-3]
    assert report.report(tmp_path)["n_runs"] == 2
