"""chi4 with the soft mobility of GlassMLP's authors: against an independent numpy
evaluation of Var_c(sum_i q_i) / N_s, and its hard-step limit."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.evaluation.chi4 import chi4


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
