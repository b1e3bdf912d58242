"""Time-correlation observables of a trajectory: MSD, self-intermediate scattering, tau_alpha.

Trajectories are unwrapped positions [n_frames, N, d] at equally spaced times; every
frame serves as a time origin.
"""

from __future__ import annotations

import numpy as np


def _lags(n_frames: int, max_lag: int | None) -> np.ndarray:
    return np.arange(1, (max_lag or n_frames - 1) + 1)


def mean_squared_displacement(traj: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """MSD(lag) averaged over particles and time origins, for lags 1..max_lag frames."""
    return np.array(
        [
            np.mean(np.sum((traj[lag:] - traj[:-lag]) ** 2, axis=-1))
            for lag in _lags(len(traj), max_lag)
        ]
    )


def self_intermediate_scattering(
    traj: np.ndarray, k: float, max_lag: int | None = None
) -> np.ndarray:
    """F_s(k, lag) of an isotropic liquid, averaged over particles and time origins.

    Uses the isotropic average of exp(i k.dr): sin(k r)/(k r) in 3D, J0(k r) in 2D.
    """
    dim = traj.shape[-1]
    out = []
    for lag in _lags(len(traj), max_lag):
        kr = k * np.linalg.norm(traj[lag:] - traj[:-lag], axis=-1)
        if dim == 3:
            out.append(np.mean(np.sinc(kr / np.pi)))
        else:
            from scipy.special import j0

            out.append(np.mean(j0(kr)))
    return np.array(out)


def relaxation_time(times: np.ndarray, fs: np.ndarray, level: float = np.exp(-1)) -> float:
    """First time F_s drops below `level` (log-linear interpolation); NaN if it never does."""
    below = np.nonzero(fs < level)[0]
    if below.size == 0 or below[0] == 0:
        return float("nan")
    i = below[0]
    t0, t1, f0, f1 = times[i - 1], times[i], fs[i - 1], fs[i]
    frac = (np.log(f0) - np.log(level)) / (np.log(f0) - np.log(f1))
    return float(np.exp(np.log(t0) + frac * (np.log(t1) - np.log(t0))))


def diffusion_coefficient(times: np.ndarray, msd: np.ndarray, dim: int, t_min: float) -> float:
    """D from a straight-line fit MSD = 2 d D t + c over t >= t_min (diffusive regime)."""
    sel = times >= t_min
    slope = np.polyfit(times[sel], msd[sel], 1)[0]
    return float(slope / (2 * dim))
