"""The trivial structural baseline every model is reported against: local density.

Prediction = +/- (number of neighbours within r < 1.5), the sign fitted on the training
split (Pearson is invariant to everything else a linear fit could add). A model that
does not beat this has learned nothing beyond counting neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from glassml.data.graph import local_density
from glassml.training.metrics import SpeciesPearson


def _pearson_tables(
    raws: Sequence[dict[str, Any]],
    targets: Sequence[np.ndarray],
    densities: Sequence[np.ndarray],
    species: Sequence[int],
) -> dict[tuple[str, int], np.ndarray]:
    n_t = targets[0].shape[1]
    metric = SpeciesPearson(species, n_t)
    for k, (raw, y, rho) in enumerate(zip(raws, targets, densities, strict=True)):
        preds = torch.from_numpy(np.repeat(rho[:, None], n_t, axis=1))
        group = torch.full((y.shape[0],), k, dtype=torch.long)
        metric.update(preds, torch.from_numpy(y), raw["species"], group)
    return {key: v.double().numpy() for key, v in metric.compute().items()}


def local_density_baseline(
    train_raw: Sequence[dict[str, Any]],
    train_targets: Sequence[np.ndarray],
    test_raw: Sequence[dict[str, Any]],
    test_targets: Sequence[np.ndarray],
    num_species: int,
    radius: float = 1.5,
    species: Sequence[int] | None = None,
) -> dict[tuple[str, int], np.ndarray]:
    """Test-split Pearson of the signed local density with the targets, for `species`
    (default every species; evaluation passes the model's trained species).

    `*_raw` are the data module's per-configuration records (`pos`, `box`, `species`),
    `*_targets` the matching unstandardised targets [N, T]. Returns the same keys as
    `SpeciesPearson.compute`: ("pooled" | "per_config", species) -> [T] array.
    """
    species = list(range(num_species)) if species is None else list(species)

    def dens(raws: Sequence[dict[str, Any]]) -> list[np.ndarray]:
        return [
            local_density(r["pos"].double().numpy(), r["box"].double().numpy(), radius)
            for r in raws
        ]

    sign: dict[int, np.ndarray] = {}
    if train_raw:
        train = _pearson_tables(train_raw, train_targets, dens(train_raw), species)
        for s in species:
            r = train[("pooled", s)]
            sign[s] = np.where(np.isnan(r) | (r >= 0), 1.0, -1.0)
    test = _pearson_tables(test_raw, test_targets, dens(test_raw), species)
    n_t = test_targets[0].shape[1]
    # Without a training split, assume the physical sign: denser means slower.
    return {(kind, s): sign.get(s, -np.ones(n_t)) * r for (kind, s), r in test.items()}
