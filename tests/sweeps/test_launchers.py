"""Launchers: joblib (local processes), submitit local executor, and hydra/launcher=slurm.

No SLURM here: the slurm test puts stand-ins for `sbatch` and `srun` on PATH that keep the
batch script and run its array tasks on this machine, so the real submitit launcher, our
config and submitit's job protocol (pickles, result files) all run as on a cluster.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from .conftest import tiny_run

SBATCH = """#!/bin/sh
# stand-in for sbatch: keep the script, run its array tasks here, answer like sbatch
cp "$1" "$FAKE_SLURM_DIR/submitted.sh"
export SLURM_NTASKS=1 SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NODEID=0 SLURM_JOB_NUM_NODES=1
export SLURM_JOB_NODELIST=localhost
range=$(sed -n 's/^#SBATCH --array=\\([0-9]*\\)-\\([0-9]*\\).*/\\1 \\2/p' "$1")
if [ -z "$range" ]; then
  SLURM_JOB_ID=4242 bash "$1" > "$FAKE_SLURM_DIR/task.log" 2>&1 &
else
  set -- "$1" $range
  for i in $(seq "$2" "$3"); do
    SLURM_JOB_ID=4242_$i SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$i \\
      bash "$1" > "$FAKE_SLURM_DIR/task_$i.log" 2>&1 &
  done
fi
echo "Submitted batch job 4242"
"""

SRUN = """#!/bin/sh
# stand-in for srun: drop its options and run the command as the single task
while [ $# -gt 0 ]; do
  case "$1" in
    --unbuffered|--*=*) shift ;;
    --*) shift 2 ;;
    *) break ;;
  esac
done
exec "$@"
"""


def _job_dirs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())


@pytest.mark.slow  # ~25 s: two loky worker processes import torch, Lightning and glassml
def test_joblib_multirun_over_two_seeds(sweep_data, tmp_path, glassml_train) -> None:
    sweep = tmp_path / "sweep"
    glassml_train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=1,2",
        *tiny_run(sweep_data, tmp_path),
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    )
    jobs = _job_dirs(sweep)
    assert [OmegaConf.load(j / "config_resolved.yaml").seed for j in jobs] == [1, 2]
    for j in jobs:
        assert (j / "checkpoints" / "last.ckpt").is_file()
        hydra = OmegaConf.load(j / ".hydra" / "hydra.yaml").hydra
        assert hydra.launcher._target_.endswith("JoblibLauncher")
    # different seeds, different initial weights, different trained networks
    w = [
        torch.load(j / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"] for j in jobs
    ]
    assert any(not torch.equal(w[0][k], w[1][k]) for k in w[0])


@pytest.mark.slow  # ~25 s: two submitit processes import torch, Lightning and glassml
def test_submitit_local_executor(sweep_data, tmp_path, glassml_train) -> None:
    sweep = tmp_path / "sweep"
    glassml_train(
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "hydra.launcher.cpus_per_task=1",
        "seed=3,4",
        *tiny_run(sweep_data, tmp_path),
        "trainer.fast_dev_run=true",
        f"hydra.sweep.dir={sweep}",
    )
    jobs = _job_dirs(sweep)
    assert [OmegaConf.load(j / "config_resolved.yaml").seed for j in jobs] == [3, 4]
    # each job ran in its own submitit process, which left its logs and result pickle
    results = list((sweep / ".submitit").glob("*/*_result.pkl"))
    assert len(results) == 2


def test_slurm_launcher_config_through_sbatch(sweep_data, tmp_path, glassml_train, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, text in (("sbatch", SBATCH), ("srun", SRUN)):
        (fake / name).write_text(text)
        (fake / name).chmod((fake / name).stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(tmp_path))
    sweep = tmp_path / "sweep"
    glassml_train(
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_node=1",
        "hydra.launcher.timeout_min=30",
        "hydra.launcher.array_parallelism=1",
        "hydra.launcher.setup=['export GLASSML_FROM_SETUP=1']",
        "seed=5,6",
        *tiny_run(sweep_data, tmp_path),
        "trainer.fast_dev_run=true",
        f"hydra.sweep.dir={sweep}",
    )
    script = (tmp_path / "submitted.sh").read_text()
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=30",
        "#SBATCH --array=0-1%1",
        "#SBATCH --ntasks-per-node=1",
        "export GLASSML_FROM_SETUP=1",
    ):
        assert line in script, line
    jobs = _job_dirs(sweep)
    assert [OmegaConf.load(j / "config_resolved.yaml").seed for j in jobs] == [5, 6]
    ids = [OmegaConf.load(j / ".hydra" / "hydra.yaml").hydra.job.id for j in jobs]
    assert ids == ["4242_0", "4242_1"]  # one task of the SLURM array each
