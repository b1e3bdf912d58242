"""Config validation: every impossible parameter is refused before any work, by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from glassml.simulate.config import ConfigError, spec_from_config

CONF = Path(__file__).resolve().parents[2] / "conf" / "simulator"


def base_config(**overrides) -> dict:
    cfg = yaml.safe_load((CONF / "ka3d.yaml").read_text())
    cfg.update(overrides)
    return cfg


@pytest.mark.parametrize("name", ["ka3d", "ka2d", "ka2d_ternary"])
def test_shipped_configs_are_valid(name):
    spec = spec_from_config(yaml.safe_load((CONF / f"{name}.yaml").read_text()))
    assert spec.counts.sum() == spec.N
    assert spec.box[0] > 2 * spec.table.max_rcut


def test_ternary_counts_and_box_match_glassbench():
    spec = spec_from_config(yaml.safe_load((CONF / "ka2d_ternary.yaml").read_text()))
    assert spec.counts.tolist() == [600, 330, 360]
    assert spec.box[0] == pytest.approx(32.8962, abs=1e-4)


def test_ka3d_rounds_counts_like_lammps_setups():
    assert spec_from_config(base_config(N=4096)).counts.tolist() == [3277, 819]


def test_log_spaced_output_times():
    spec = spec_from_config(
        base_config(times={"spacing": "log", "min": 0.1, "max": 100.0, "num": 4, "values": None})
    )
    np.testing.assert_allclose(spec.output_times, [0.1, 1.0, 10.0, 100.0])


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({"T": -1.0}, "simulator.T"),
        ({"dt": 0}, "simulator.dt"),
        ({"N": 50}, "simulator.N"),  # box shorter than twice the cut-off
        ({"fractions": [0.7, 0.2]}, "simulator.fractions"),
        ({"fractions": [0.999, 0.001], "N": 400}, "simulator.N"),  # no B particle
        ({"n_iso": 0}, "simulator.n_iso"),
        ({"iso_ensemble": "npt"}, "simulator.iso_ensemble"),
        ({"workers": 0}, "simulator.workers"),
        ({"engine": "cuda"}, "simulator.engine"),
        ({"engine": "warp", "device": "gpu"}, "simulator.device"),
        ({"device": "cuda"}, "simulator.device"),  # the numba engine runs on the CPU only
        ({"engine": "warp", "configs_per_batch": 0}, "simulator.configs_per_batch"),
        ({"bogus_key": 1}, "simulator.bogus_key"),
        (
            {"potential": {"name": "x", "epsilon": [[1.0]], "sigma": [[1.0]], "cutoff": 2.5}},
            "simulator.potential.epsilon",
        ),
        ({"thermostat": {"kind": "berendsen", "tau": 1.0}}, "simulator.thermostat.kind"),
        (
            {"times": {"spacing": "log", "min": 5.0, "max": 1.0, "num": 3, "values": None}},
            "simulator.times",
        ),
        (
            {
                "times": {
                    "spacing": "log",
                    "min": 0.1,
                    "max": 1.0,
                    "num": 3,
                    "values": None,
                    "extra": 1,
                }
            },
            "simulator.times.extra",
        ),
        ({"cage_time": 1e6}, "simulator.cage_time"),
    ],
)
def test_impossible_parameters_are_refused_by_name(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        spec_from_config(base_config(**overrides))


@pytest.mark.parametrize("name,T,tau", [("064", 0.64, 16.5), ("056", 0.56, 52.0)])
def test_glassbench_gpu_recipes(name, T, tau):
    """The GPU dataset recipes follow the GlassBench protocol of REFERENCE.md."""
    from tests.hydra_helpers import compose_config

    cfg = compose_config("simulate", [f"simulator=ka3d_glassbench_{name}"])
    spec = spec_from_config(cfg.simulator)
    assert (spec.N, spec.T, spec.n_iso, spec.n_configs) == (4096, T, 32, 500)
    assert len(spec.output_times) == 10
    assert spec.output_times[6] == pytest.approx(tau, rel=0.01)  # index 6 = tau_alpha
    # the published T = 0.44 grid in units of tau_alpha (up to whole MD steps at the start)
    published = np.array([0.13, 1.3, 13, 130, 412, 1300, 4120, 13000, 41200, 130000]) / 4120
    np.testing.assert_allclose(spec.output_times[3:] / tau, published[3:], rtol=0.01)
    assert (spec.engine, spec.device) == ("warp", "auto")
