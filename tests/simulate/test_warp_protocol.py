"""`simulator.engine=warp`: the batched iso-configurational runs against the numba engine.

Same seeds give the same runs (to rounding, until chaos separates them); other seeds give
the same propensity distribution and MSD within statistical error.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("warp")

from glassml.simulate import protocol, warp_engine  # noqa: E402
from glassml.simulate.propensity import iso_run, iso_runs_batched, run_rng  # noqa: E402

from .test_config import base_config  # noqa: E402
from .test_protocol import small_spec  # noqa: E402
from .test_warp_engine import _liquid  # noqa: E402

N_RUNS = 32


@pytest.fixture(scope="module")
def runs():
    """32 iso runs of one KA 3D liquid structure (N = 256, T = 1) by both engines."""
    from glassml.simulate.config import spec_from_config

    def spec(seed: int, ensemble: str = "nve"):
        return spec_from_config(
            base_config(
                N=256,
                T=1.0,
                n_iso=N_RUNS,
                seed=seed,
                iso_ensemble=ensemble,
                cage_time=0.5,
                times={"spacing": "list", "values": [0.02, 0.5, 2.0]},
                output_dir="unused",
            )
        )

    system = _liquid(256, 3, 1.2, seed=11, steps=400)
    x0, types = system.wrapped_positions(), system.types
    base = spec(0)
    numba_runs = [iso_run(base, x0, types, run_rng(base, 0, r)) for r in range(N_RUNS)]
    warp_same = iso_runs_batched(base, [(0, x0)], types, "cpu")[0]
    warp_other = iso_runs_batched(spec(1), [(0, x0)], types, "cpu")[0]
    nvt = spec(0, "nvt")
    numba_nvt = [iso_run(nvt, x0, types, run_rng(nvt, 0, r)) for r in range(4)]
    warp_nvt = iso_runs_batched(replace(nvt, n_iso=4), [(0, x0)], types, "cpu")[0]
    return numba_runs, warp_same, warp_other, numba_nvt, warp_nvt


def _disp(runs, what="abs_disp"):
    return np.stack([getattr(r, what) for r in runs]).astype(np.float64)  # [runs, times, N]


def test_same_seeds_give_the_same_runs_at_short_times(runs):
    numba_runs, warp_same, _, numba_nvt, warp_nvt = runs
    # 4 steps: identical to rounding (same velocities, forces equal to ~1e-13)
    np.testing.assert_allclose(_disp(warp_same)[:, 0], _disp(numba_runs)[:, 0], rtol=1e-7)
    np.testing.assert_allclose(
        _disp(warp_same, "bond_broken")[:, 0], _disp(numba_runs, "bond_broken")[:, 0]
    )
    # the thermostat of each replica draws the same noise as its numba run
    np.testing.assert_allclose(_disp(warp_nvt)[:, :2], _disp(numba_nvt)[:, :2], rtol=1e-5)


def test_other_seeds_give_the_same_msd_and_propensity_distribution(runs):
    numba_runs, _, warp_other, _, _ = runs
    a, b = _disp(numba_runs), _disp(warp_other)
    assert not np.allclose(a[:, 0], b[:, 0], rtol=1e-3)  # really other trajectories
    for k in range(a.shape[1]):
        msd_a, msd_b = (a[:, k] ** 2).mean(axis=1), (b[:, k] ** 2).mean(axis=1)  # per run
        err = np.hypot(msd_a.std(ddof=1), msd_b.std(ddof=1)) / np.sqrt(N_RUNS)
        assert abs(msd_a.mean() - msd_b.mean()) < 4 * err, (k, msd_a.mean(), msd_b.mean(), err)
        # propensities (mean over runs) of the same structure: same distribution
        assert stats.ks_2samp(a[:, k].mean(axis=0), b[:, k].mean(axis=0)).pvalue > 1e-3
    # and the same particles are mobile: correlation as high as between two numba halves
    prop_a, prop_b = a[:, -1].mean(axis=0), b[:, -1].mean(axis=0)
    halves = stats.pearsonr(a[::2, -1].mean(axis=0), a[1::2, -1].mean(axis=0))[0]
    assert stats.pearsonr(prop_a, prop_b)[0] > halves - 0.1
    assert stats.pearsonr(prop_a, prop_b)[0] > 0.3


def test_warp_engine_writes_the_same_dataset(tmp_path):
    """Whole protocol with engine=warp, two configurations in one batch: same files, and
    (same seeds, 40 steps) the same propensities as the numba engine."""
    numba_out, warp_out = tmp_path / "numba", tmp_path / "warp"
    protocol.generate(small_spec(numba_out), resolved="simulator: test\n")
    spec = small_spec(warp_out, engine="warp", device="cpu", configs_per_batch=2)
    protocol.generate(spec, resolved="simulator: test\n")
    for name in ("config_0000.npz", "config_0001.npz"):
        with np.load(numba_out / name) as a, np.load(warp_out / name) as b:
            assert sorted(a.files) == sorted(b.files)
            np.testing.assert_array_equal(a["initial_positions"], b["initial_positions"])
            for key in ("md_prop", "md_prop_cage", "bb_prop", "initial_positions_cage"):
                np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6)
    # resumable across engines: the numba directory is complete, warp finds nothing to do
    protocol.generate(small_spec(numba_out, engine="warp"), resolved="simulator: test\n")


def test_missing_gpu_is_reported_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(warp_engine.wp, "is_cuda_available", lambda: False)
    spec = small_spec(tmp_path / "gpu", engine="warp", device="cuda")
    with pytest.raises(RuntimeError, match="simulator.device=cuda"):
        protocol.generate(spec)
    assert not (tmp_path / "gpu" / protocol.WORK_DIR).exists()


@pytest.mark.skipif(not warp_engine.cuda_available(), reason="needs a CUDA GPU")
def test_cuda_runs_start_like_the_numba_runs():
    """The batched runs on the GPU: same seeds, same displacements for the first steps."""
    from glassml.simulate.config import spec_from_config

    spec = spec_from_config(
        base_config(
            N=256,
            T=1.0,
            n_iso=4,
            times={"spacing": "list", "values": [0.02, 0.1]},
            cage_time=0.1,
            output_dir="unused",
        )
    )
    system = _liquid(256, 3, 1.2, seed=12)
    x0, types = system.wrapped_positions(), system.types
    ref = [iso_run(spec, x0, types, run_rng(spec, 3, r)) for r in range(4)]
    gpu = iso_runs_batched(spec, [(3, x0)], types, "cuda")[0]
    np.testing.assert_allclose(_disp(gpu), _disp(ref), rtol=1e-6, atol=1e-9)
