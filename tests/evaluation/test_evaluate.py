"""glassml-evaluate: per-run report, transfer matrix, leaderboard and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from glassml.cli.evaluate import run
from glassml.data.synthetic import write_synthetic_dataset
from glassml.evaluation.analysis import Predictions, analyse
from glassml.evaluation.evaluate import IncompatibleDataError
from glassml.io import atomic_save_npz

from ..hydra_helpers import compose_config


def test_report_files_and_metrics(eval_runs: Path, tmp_path: Path) -> None:
    ckpt = eval_runs / "warm" / "checkpoints" / "best.ckpt"
    over = [f"ckpt_path={ckpt}", "metrics.bootstrap.n_boot=200", "metrics.spatial.min_pairs=0"]
    rep = run(compose_config("evaluate", over, tmp_path))
    for name in (
        "metrics.json",
        "report.md",
        "predictions.npz",
        "pearson_vs_time.png",
        "chi4.png",
        "spatial_correlation.png",
        "config_0_t03.png",
    ):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["pearson"] == rep["pearson"]
    ci = saved["pearson_ci"]["A"]["pooled"]
    for v, lo, hi, model in zip(
        ci["value"], ci["low"], ci["high"], saved["pearson"]["model"]["A"]["pooled"], strict=True
    ):
        assert lo <= v <= hi
        assert v == pytest.approx(model, abs=1e-4)  # same Pearson as the streaming metric
    ceil = saved["ceiling"]["A"]
    assert ceil["n_runs"] == 8
    assert all(0.0 < c <= 1.0 for c in ceil["ceiling"]["per_config"])
    assert len(saved["chi4"]["A"]["ratio"]) == 4
    assert saved["spatial"]["A"]["xi_true"] is not None
    md = (tmp_path / "report.md").read_text()
    assert "## Pearson correlation, species A" in md and "chi4" in md and "ceiling" in md
    # the metrics are reproducible from predictions.npz alone (pure numpy)
    pred = Predictions.load(tmp_path / "predictions.npz")
    again = analyse(pred, ["A", "B"], tau_position=3, bootstrap={"n_boot": 200})
    assert again["chi4"]["A"] == saved["chi4"]["A"]
    assert again["pearson_ci"]["A"]["pooled"]["value"] == ci["value"]


def test_ceiling_note_without_runs(eval_runs: Path, tmp_path: Path) -> None:
    ckpt = eval_runs / "cold" / "checkpoints" / "best.ckpt"
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", "metrics.bootstrap.n_boot=50"], tmp_path)
    rep = run(cfg)
    assert rep["ceiling"] == {}
    assert any("md_prop_runs" in n for n in rep["notes"])


def test_transfer_matrix(eval_runs: Path, tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["mode=transfer", f"runs_dir={eval_runs}"], tmp_path)
    data = run(cfg)
    assert data["tested_on"] == ["cold", "warm"]
    mat = np.array(data["per_config"], dtype=float)
    assert mat.shape == (2, 2) and np.isfinite(mat).all()
    # the diagonal is the ordinary test score of each run
    for i, name in enumerate(("cold", "warm")):
        tm = json.loads((eval_runs / name / "test_metrics.json").read_text())
        j = data["tested_on"].index(name)
        assert mat[i, j] == pytest.approx(tm["pearson"]["model"]["A"]["per_config"][-1], abs=1e-4)
    for name in ("transfer.json", "transfer.md", "transfer_heatmap.png"):
        assert (tmp_path / name).is_file()


def test_leaderboard(eval_runs: Path, tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["mode=leaderboard", f"runs_dir={eval_runs}"], tmp_path)
    data = run(cfg)
    rows = data["rows"]
    ours = [r for r in rows if r["source"] == "run"]
    assert len(ours) == 2 and {r["dataset"] for r in ours} == {"warm", "cold"}
    assert any(r["source"] == "published" and r["model"] == "SE(3) GNN" for r in rows)
    keys = [r["pearson_tau"].get("published", r["pearson_tau"].get("per_config")) for r in rows]
    assert keys == sorted(keys, reverse=True)  # sorted by Pearson at tau_alpha
    md = (tmp_path / "leaderboard.md").read_text()
    assert "**published**" in md and "## warm: Pearson (per_config) per time scale" in md
    assert (tmp_path / "pearson_vs_time_warm.png").is_file()
    # the warm dataset keeps per-run displacements: its comparison shows the ceiling
    warm = md.split("## warm")[1].split("## ")[0]
    assert "iso-configurational ceiling" in warm
    assert "iso-configurational ceiling" not in md.split("## cold")[1].split("## warm")[0]


def test_leaderboard_without_runs(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["mode=leaderboard", f"runs_dir={tmp_path}"], tmp_path)
    with pytest.raises(FileNotFoundError, match="no propensity training runs"):
        run(cfg)


def _rewrite(root: Path, fn) -> None:
    for path in sorted(root.glob("config_*.npz")):
        with np.load(path) as f:
            data = {k: f[k] for k in f.files}
        fn(data)
        atomic_save_npz(path, **data)


def test_species_mismatch_is_refused(eval_runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "ternary"
    write_synthetic_dataset(root, n_configs=6, n_particles=64, n_times=4, seed=3)
    _rewrite(root, lambda d: d.__setitem__("types", np.arange(64) % 3))
    ckpt = eval_runs / "warm" / "checkpoints" / "best.ckpt"
    cfg = compose_config(
        "evaluate", [f"ckpt_path={ckpt}", "dataset=generated", f"dataset.root={root}"], tmp_path
    )
    with pytest.raises(IncompatibleDataError, match=r"trained on species \['A', 'B'\]"):
        run(cfg)


def test_time_grid_mismatch_is_refused(eval_runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "other_times"
    write_synthetic_dataset(root, n_configs=6, n_particles=64, n_times=4, seed=4)
    _rewrite(root, lambda d: d.__setitem__("times", np.logspace(-1, 3, 4)))
    ckpt = eval_runs / "warm" / "checkpoints" / "best.ckpt"
    over = [f"ckpt_path={ckpt}", "dataset=generated", f"dataset.root={root}"]
    with pytest.raises(IncompatibleDataError, match="time grids differ"):
        run(compose_config("evaluate", over, tmp_path))
    # check_time_grid=false scores anyway (e.g. deliberately different protocols)
    rep = run(
        compose_config(
            "evaluate", [*over, "check_time_grid=false", "metrics.bootstrap.n_boot=50"], tmp_path
        )
    )
    assert rep["n_configs"] >= 1


def test_fewer_time_scales_than_the_model_is_refused(eval_runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "short"
    write_synthetic_dataset(root, n_configs=6, n_particles=64, n_times=2, seed=5)
    ckpt = eval_runs / "warm" / "checkpoints" / "best.ckpt"
    cfg = compose_config(
        "evaluate", [f"ckpt_path={ckpt}", "dataset=generated", f"dataset.root={root}"], tmp_path
    )
    with pytest.raises(IncompatibleDataError, match="trained on time indices"):
        run(cfg)


def test_model_inputs_come_from_the_checkpoint(eval_runs: Path, eval_data, tmp_path) -> None:
    """Evaluated on another dataset config, the model keeps its own input representation."""
    from omegaconf import OmegaConf

    from glassml.evaluation.evaluate import build_datamodule, load_checkpoint

    _, run_cfg, info = load_checkpoint(eval_runs / "warm" / "checkpoints" / "best.ckpt")
    other = compose_config(
        "train", ["dataset=generated", f"dataset.root={eval_data['cold']}"], tmp_path
    ).dataset
    trained = OmegaConf.merge(run_cfg.dataset, {"positions": "inherent", "cutoff": 1.8})
    dm = build_datamodule(other, info, 1, train_dataset_cfg=trained)
    assert dm.positions == "inherent" and dm.cutoff == 1.8
    assert dm.root == eval_data["cold"]


def test_only_trained_species_are_scored(
    eval_runs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """train_species [0]: metrics, report, baseline and plots for A only, one log line
    naming B and how to include it."""
    ckpt = eval_runs / "warm" / "checkpoints" / "best.ckpt"
    over = [f"ckpt_path={ckpt}", "metrics.bootstrap.n_boot=50", "metrics.spatial.min_pairs=0"]
    with caplog.at_level("INFO", logger="glassml.evaluation.evaluate"):
        rep = run(compose_config("evaluate", over, tmp_path))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["train_species"] == ["A"] and saved["species_not_scored"] == ["B"]
    for section in ("pearson_ci", "chi4", "spatial", "ceiling"):
        assert list(saved[section]) == ["A"], section
    assert list(saved["pearson"]["model"]) == ["A"]
    assert list(saved["pearson"]["baseline_local_density"]) == ["A"]
    assert rep["pearson"] == saved["pearson"]
    md = (tmp_path / "report.md").read_text()
    assert "species A" in md and "## Pearson correlation, species B" not in md
    assert "species B (" not in md
    lines = [r.getMessage() for r in caplog.records if "not scored" in r.getMessage()]
    assert len(lines) == 1
    assert "B" in lines[0] and "dataset.train_species=all" in lines[0]


def test_all_species_are_scored_when_all_trained(
    all_species_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = all_species_run / "checkpoints" / "best.ckpt"
    over = [f"ckpt_path={ckpt}", "metrics.bootstrap.n_boot=50", "metrics.spatial.min_pairs=0"]
    with caplog.at_level("INFO", logger="glassml.evaluation.evaluate"):
        run(compose_config("evaluate", over, tmp_path))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["train_species"] == ["A", "B"] and saved["species_not_scored"] == []
    for section in ("pearson_ci", "chi4", "spatial", "ceiling"):
        assert sorted(saved[section]) == ["A", "B"], section
    assert sorted(saved["pearson"]["model"]) == ["A", "B"]
    assert sorted(saved["pearson"]["baseline_local_density"]) == ["A", "B"]
    assert "## Pearson correlation, species B" in (tmp_path / "report.md").read_text()
    assert not [r for r in caplog.records if "not scored" in r.getMessage()]
