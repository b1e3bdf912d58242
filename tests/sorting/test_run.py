"""Run orchestration: config validation, Hydra wiring, outputs, resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from glassml.simulate.config import ConfigError
from glassml.sorting import run as run_mod
from glassml.sorting.params import SortingParams

CONF = str(Path(__file__).resolve().parents[2] / "conf")


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"g": 0.0}, "simulator.g"),
        ({"g": 1.5}, "simulator.g"),
        ({"phi": -1.0}, "simulator.phi"),
        ({"k_D": -2.0}, "simulator.k_D"),
        ({"M": 1}, "simulator.M"),
        ({"L": 8, "M": 50}, "simulator.M"),
        ({"extraction": "square", "square": 5, "L": 8, "M": 4}, "simulator.square"),
        ({"extraction_rate": -1.0}, "simulator.extraction_rate"),
        ({"rule": "glauber"}, "simulator.rule"),
    ],
)
def test_bad_input_names_the_key(kw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        SortingParams(**kw)


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown key"):
        SortingParams.from_mapping({"L": 32, "gg": 0.1})


def test_dataclass_defaults_equal_the_yaml_defaults():
    """One source of truth: conf/simulator/sorting.yaml states every key with its reason, and
    each default of SortingParams equals it, so a run from Python is the CLI's default run."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="simulate", overrides=["simulator=sorting"])
    yaml = OmegaConf.to_container(cfg.simulator, resolve=True)
    code = {f.name: f.default for f in dataclasses.fields(SortingParams)}
    assert set(yaml) - {"_target_", "name"} == set(code)
    differ = {
        k: (v, yaml[k]) for k, v in code.items() if yaml[k] != v or type(yaml[k]) is not type(v)
    }
    assert not differ, f"SortingParams default != conf/simulator/sorting.yaml: {differ}"
    assert SortingParams.from_mapping(cfg.simulator) == SortingParams()


def _small(tmp: Path, **kw) -> SortingParams:
    base = dict(
        L=32,
        phi=3e-3,
        g=0.1,
        M=12,
        t_end=3000.0,
        n_samples=60,
        snapshots=4,
        progress=False,
        output_dir=str(tmp),
    )
    base.update(kw)
    return SortingParams(**base)


def test_hydra_target_runs_and_writes_outputs(tmp_path):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(
            config_name="simulate",
            overrides=[
                "simulator=sorting",
                "simulator.L=32",
                "simulator.M=12",
                "simulator.phi=3e-3",
                "simulator.t_end=3000",
                "simulator.n_samples=60",
                "simulator.snapshots=4",
                "simulator.progress=false",
                f"simulator.output_dir={tmp_path}",
                "simulator.animation=gif",
                "simulator.animation_frames=4",
            ],
        )
    from glassml.cli.simulate import simulate

    simulate(cfg)
    for name in (
        "timeseries.npz",
        "domains.npz",
        "extractions.npz",
        "snapshots.npz",
        "domain_trajectories.npz",
        "summary.json",
        "timeseries.png",
        "committor.png",
        "lifetimes.png",
        "snapshots.png",
        "animation.gif",
    ):
        assert (tmp_path / name).exists(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["simulator"]["M"] == 12
    assert summary["seed"] == 0
    lit = summary["sorting"]["residence_time_little"]
    tag = summary["sorting"]["residence_time_tagged"]
    assert (
        abs(lit["mean"] - tag["mean"]) < 5 * np.hypot(lit["err"], tag["err"]) + 0.05 * lit["mean"]
    )
    assert not list(tmp_path.glob(".*tmp*"))


def _interrupt_after(p, out, monkeypatch, n_samples: int) -> None:
    """Run p in out and stop it like Ctrl-C after n_samples samples (checkpoint left)."""
    orig = run_mod.Recorder.sample

    def interrupt(self, st):
        orig(self, st)
        if self.k == n_samples:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_mod.Recorder, "sample", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_mod.simulate(p, out)
    monkeypatch.setattr(run_mod.Recorder, "sample", orig)


def test_interrupted_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    ref = run_mod.simulate(_small(tmp_path / "ref"), tmp_path / "ref")
    p = _small(tmp_path / "cut", checkpoint_every=0.0)
    _interrupt_after(p, tmp_path / "cut", monkeypatch, 30)
    assert (tmp_path / "cut" / "checkpoint.npz").exists()
    assert not (tmp_path / "cut" / "summary.json").exists()
    got = run_mod.simulate(p, tmp_path / "cut")
    a = np.load(tmp_path / "ref" / "timeseries.npz")
    b = np.load(tmp_path / "cut" / "timeseries.npz")
    for k in ("t", "density", "n_domains", "events"):
        np.testing.assert_array_equal(a[k], b[k])
    assert got["stationary"] == ref["stationary"]
    assert not (tmp_path / "cut" / "checkpoint.npz").exists()
    # finished: a re-run is skipped, a different config in the same place is refused
    assert run_mod.simulate(p, tmp_path / "cut")["digest"] == got["digest"]
    with pytest.raises(ConfigError, match="different run"):
        run_mod.simulate(_small(tmp_path / "cut", g=0.2), tmp_path / "cut")


def test_checkpoint_of_another_kernel_layout_is_refused(tmp_path, monkeypatch):
    p = _small(tmp_path, checkpoint_every=0.0)
    _interrupt_after(p, tmp_path, monkeypatch, 5)
    ckpt = tmp_path / "checkpoint.npz"
    with np.load(ckpt) as z:
        arrays = {k: z[k] for k in z.files if k != "state_site"}
    np.savez(ckpt, **arrays)
    lacks = r"checkpoint\.npz: checkpoint lacks state arrays \['site'\]"
    with pytest.raises(ValueError, match=lacks):
        run_mod.simulate(p, tmp_path)


def test_short_run_warns_instead_of_averaging_silently(tmp_path):
    s = run_mod.simulate(_small(tmp_path, phi=1e-4, t_end=300.0), tmp_path)
    assert s["warnings"], "a run far shorter than the residence time must carry a warning"


def test_mp4_animation_is_written(tmp_path):
    """MP4 through ffmpeg (imageio-ffmpeg's binary when none is on PATH)."""
    from glassml.sorting.plots import _animate

    rng = np.random.default_rng(0)
    frames = [(float(t), rng.integers(0, 5, (16, 16)).astype(float)) for t in range(6)]
    path = tmp_path / "animation.mp4"
    _animate(path, frames, 6, "mp4")
    head = path.read_bytes()[:12]
    assert head[4:8] == b"ftyp" and path.stat().st_size > 1000  # an ISO media file
    assert not list(tmp_path.glob(".*tmp*"))


def test_mp4_without_ffmpeg_is_a_config_error(monkeypatch):
    import shutil
    import sys

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
    with pytest.raises(ConfigError, match=r"simulator\.animation.*ffmpeg"):
        SortingParams(animation="mp4", snapshots=4)
    SortingParams(animation="gif", snapshots=4)  # GIF needs no ffmpeg
