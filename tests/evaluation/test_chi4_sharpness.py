"""chi4 with the soft mobility of GlassMLP's authors: against an independent numpy
evaluation of Var_c(sum_i q_i) / N_s, and its hard-step limit; and without a threshold
(linear), as their bond-breaking KA 2D run computes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassml.evaluation.chi4 import chi4

CONF = Path(__file__).resolve().parents[2] / "conf"


def _propensities(seed: int = 0) -> np.ndarray:
    """[C, N, T] with configuration-to-configuration fluctuations of the mean."""
    rng = np.random.default_rng(seed)
    shift = rng.normal(0.0, 0.1, size=(12, 1, 1))
    return 0.44 + shift + rng.normal(0.0, 0.2, size=(12, 50, 3))


def test_soft_chi4_is_the_authors_formula() -> None:
    p = _propensities()
    q = (np.tanh((p - 0.44) * 20.0) + 1.0) / 2.0  # their mobile weight
    total = q.sum(axis=1)  # [C, T]
    expect = total.var(axis=0, ddof=1) / p.shape[1]
    res = chi4(p, p[::-1], threshold=0.44, sharpness=20.0)
    np.testing.assert_allclose(res.true, expect, rtol=1e-12)
    np.testing.assert_allclose(res.pred, expect, rtol=1e-12)  # order of configs: same variance
    np.testing.assert_allclose(res.mean_overlap_true, 1.0 - q.mean(axis=(0, 1)), rtol=1e-12)


def test_infinite_sharpness_gives_the_step() -> None:
    p = _propensities(1)
    hard = chi4(p, p, threshold=0.44)
    sharp = chi4(p, p, threshold=0.44, sharpness=1e9)
    np.testing.assert_allclose(sharp.true, hard.true, rtol=1e-9)
    soft = chi4(p, p, threshold=0.44, sharpness=20.0)
    assert np.all(np.abs(soft.true - hard.true) > 1e-3 * hard.true)  # k = 20 is not the step
    median = chi4(p, p, sharpness=1e9)  # the median threshold as before
    np.testing.assert_allclose(median.true, chi4(p, p).true, rtol=1e-9)


def test_bad_sharpness() -> None:
    with pytest.raises(ValueError, match="sharpness must be > 0"):
        chi4(_propensities(), _propensities(), threshold=0.44, sharpness=0.0)


def test_linear_chi4_is_the_authors_bond_breaking_chi4() -> None:
    """Their KA 2D script: chi4 = (E_c[Q^2] - E_c[Q]^2) / N with Q = sum_i (1 - C_loc_i),
    the population variance, where we take the sample variance (ddof = 1)."""
    rng = np.random.default_rng(3)
    shift = rng.uniform(-0.1, 0.1, size=(10, 1, 1))
    broken = np.clip(0.3 + shift + rng.normal(0.0, 0.2, size=(10, 40, 2)), 0.0, 1.0)
    total = broken.sum(axis=1)
    theirs = ((total**2).mean(axis=0) - total.mean(axis=0) ** 2) / broken.shape[1]
    res = chi4(broken, broken, mobility="linear")
    np.testing.assert_allclose(res.true, theirs * 10 / 9, rtol=1e-12)
    np.testing.assert_allclose(res.mean_overlap_true, broken.mean(axis=(0, 1)), rtol=1e-12)
    # the fraction of bonds kept (their label) gives the same chi4; a threshold would not
    kept = chi4(1.0 - broken, 1.0 - broken, mobility="linear")
    np.testing.assert_allclose(kept.true, res.true, rtol=1e-10)
    assert not np.allclose(chi4(broken, broken).true, res.true)


def test_bad_mobility_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"metrics\.chi4\.mobility='soft'"):
        chi4(_propensities(), _propensities(), mobility="soft")


def test_linear_chi4_is_configured_from_the_evaluate_config() -> None:
    from omegaconf import OmegaConf

    from glassml.evaluation.analysis import metric_options
    from glassml.evaluation.evaluate import chi4_definition

    metrics = OmegaConf.load(CONF / "evaluate.yaml").metrics
    assert metric_options(metrics)["chi4_opts"]["mobility"] == "indicator"
    metrics.chi4.mobility = "linear"
    assert metric_options(metrics)["chi4_opts"]["mobility"] == "linear"
    assert "mean propensity" in chi4_definition(metrics.chi4)
