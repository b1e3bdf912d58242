"""End-to-end dataset generation: layout, metadata, resume, atomicity, clean failures."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from glassml.simulate import protocol
from glassml.simulate.config import ConfigError, spec_from_config
from glassml.simulate.md import SimulationError

from .test_config import base_config


def small_spec(out, **overrides):
    params = dict(
        dim=2,
        N=150,
        fractions=[0.65, 0.35],
        T=1.0,
        tau_alpha=0.5,
        melt_time=0.5,
        equilibration_taus=2.0,
        spacing_taus=1.0,
        n_configs=2,
        n_iso=2,
        workers=1,
        cage_time=0.05,
        output_dir=str(out),
        times={"spacing": "log", "min": 0.05, "max": 0.2, "num": 3, "values": None},
        crystal={
            "check": True,
            "q_threshold": 0.9,
            "solid_bonds": 5,
            "r_max": 1.5,
            "max_solid_fraction": 0.2,
        },
    )
    params.update(overrides)
    return spec_from_config(base_config(**params))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "ka2d"
    spec = small_spec(out)
    protocol.generate(spec, resolved="simulator: test\n")
    return spec, out


def test_files_follow_the_glassbench_layout(dataset):
    spec, out = dataset
    files = sorted(out.glob("config_*.npz"))
    assert [f.name for f in files] == ["config_0000.npz", "config_0001.npz"]
    n_t = len(spec.output_times)
    with np.load(files[0]) as f:
        assert f["types"].shape == (150,) and set(np.unique(f["types"])) == {0, 1}
        for key in ("initial_positions", "initial_positions_inherent", "initial_positions_cage"):
            assert f[key].shape == (150, 2)
            assert np.all((f[key] >= 0) & (f[key] < f["box"]))
        for key in ("md_prop", "md_prop_cage", "bb_prop"):
            assert f[key].shape == (n_t, 150) and np.all(np.isfinite(f[key]))
        assert f["md_prop_runs"].shape == (2, n_t, 150)
        np.testing.assert_allclose(
            f["md_prop"], f["md_prop_runs"].astype(float).mean(0), rtol=2e-3, atol=1e-4
        )
        assert np.all(np.diff(f["md_prop"].mean(1)) > 0)  # particles move away with time
        np.testing.assert_allclose(f["times"], spec.output_times)
        assert float(f["temperature"]) == 1.0 and int(f["n_iso"]) == 2
        assert str(f["config"]) == "simulator: test\n"
    assert (out / "dataset.json").exists() and (out / "simulate_config.yaml").exists()


def test_inherent_structure_is_a_minimum(dataset):
    spec, out = dataset
    from glassml.simulate.md import LJSystem

    with np.load(out / "config_0000.npz") as f:
        system = LJSystem(f["initial_positions_inherent"], f["types"], f["box"], spec.table)
        eq = LJSystem(f["initial_positions"], f["types"], f["box"], spec.table)
    assert np.abs(system.forces).max() < 1e-5
    assert system.epot < eq.epot


def test_rerun_skips_finished_and_redoes_missing_or_corrupt(dataset, caplog):
    spec, out = dataset
    first = out / "config_0000.npz"
    second = out / "config_0001.npz"
    kept = first.stat().st_mtime_ns
    with np.load(second) as f:
        old = f["md_prop"].copy()
    second.write_bytes(b"truncated")
    protocol.generate(spec, resolved="simulator: test\n")
    assert first.stat().st_mtime_ns == kept
    with np.load(second) as f:  # redone from the checkpointed equilibrium configuration
        np.testing.assert_allclose(f["md_prop"], old, rtol=1e-5)
    assert not list(out.glob(".*.tmp"))


def test_interrupt_keeps_finished_files_and_resumes(tmp_path, monkeypatch):
    spec = small_spec(tmp_path / "d", n_configs=3)
    real = protocol._run_task
    calls = {"n": 0}

    def flaky(spec_, k, r, x0, types):
        calls["n"] += 1
        if k == 1 and r == 1:
            raise KeyboardInterrupt
        return real(spec_, k, r, x0, types)

    monkeypatch.setattr(protocol, "_run_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        protocol.generate(spec)
    assert [p.name for p in (tmp_path / "d").glob("config_*.npz")] == ["config_0000.npz"]
    assert not list((tmp_path / "d").glob(".*.tmp"))
    monkeypatch.setattr(protocol, "_run_task", real)
    protocol.generate(spec)
    assert len(list((tmp_path / "d").glob("config_*.npz"))) == 3


def test_parallel_workers_give_the_same_data(dataset, tmp_path):
    spec, out = dataset
    par = small_spec(tmp_path / "par", workers=2)
    protocol.generate(par, resolved="simulator: test\n")
    for name in ("config_0000.npz", "config_0001.npz"):
        with np.load(out / name) as a, np.load(tmp_path / "par" / name) as b:
            np.testing.assert_allclose(a["initial_positions"], b["initial_positions"])
            np.testing.assert_allclose(a["md_prop"], b["md_prop"], rtol=1e-4, atol=1e-6)


def test_changed_physics_in_the_same_directory_is_refused(dataset):
    spec, out = dataset
    other = small_spec(out, T=1.1)
    with pytest.raises(ConfigError, match="simulator.T"):
        protocol.generate(other)
    more = small_spec(out, n_configs=2, workers=2)  # not physics: allowed
    protocol.generate(more)


def test_blow_up_aborts_cleanly_without_files(tmp_path):
    spec = small_spec(tmp_path / "bad", dt=0.08, T=1.0)
    with pytest.raises(SimulationError, match="dt"):
        protocol.generate(spec)
    assert not list((tmp_path / "bad").glob("config_*.npz"))


def test_spec_is_recorded_for_resumption(dataset):
    spec, out = dataset
    saved = yaml.safe_load((out / "simulate_config.yaml").read_text())
    assert saved["T"] == spec.T and saved["N"] == spec.N
