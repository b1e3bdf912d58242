"""GlassMLP's spatial loss term: the error of the coarse-grained propensity field.

A per-particle loss alone lets a regression model shrink its predictions towards the
mean and lose the spatial correlations of the propensity, hence chi4. Comparing the
fields coarse-grained over a length L, per configuration and time scale,

    P_i = sum_{j in s} w_ij p_j / sum_{j in s} w_ij,   w_ij = exp(-r_ij / L)  (w_ii = 1),

(s: the trained species, i in s) penalises errors in the long-wavelength fluctuations
that chi4 integrates. All pairs closer than the radius where the kernel's neglected
weight falls below 1% enter, capped at half the box (minimum image), as for the
descriptors (glassml.features.physics_inspired).
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

from glassml.features.structure import NEGLECTED_WEIGHT, half_box, tail_radius

#: rows of the dense pair block handled at once (bounds memory at ~ ROWS * N floats)
ROWS = 2048


def coarse_grain_field(
    values: torch.Tensor, pos: torch.Tensor, box: torch.Tensor, length: float
) -> torch.Tensor:
    """exp(-r/L)-weighted means [n, T] of `values` [n, T] at positions [n, d] in `box` [d]."""
    radius = min(tail_radius(length, pos.shape[1], NEGLECTED_WEIGHT), half_box(box.cpu().numpy()))
    out = []
    for start in range(0, pos.shape[0], ROWS):
        d = pos[start : start + ROWS, None, :] - pos[None, :, :]
        d = d - box * torch.round(d / box)
        r = d.norm(dim=-1)
        w = torch.exp(-r / length) * (r < radius)
        out.append(w @ values / w.sum(dim=1, keepdim=True))
    return torch.cat(out)


def coarse_grained_mse(
    preds: torch.Tensor, batch: Batch, mask: torch.Tensor, length: float
) -> torch.Tensor:
    """Mean over configurations of the MSE between coarse-grained predicted and true
    fields of the `mask`ed particles (module docstring); needs `batch.pos`, `batch.box`."""
    if not length > 0:
        raise ValueError(f"model.spatial_length={length}: must be > 0")
    box = batch.box.reshape(batch.num_graphs, -1).to(preds.dtype)
    terms = []
    for g in range(int(batch.num_graphs)):
        sel = (batch.batch == g) & mask
        if int(sel.sum()) < 2:
            continue
        pos = batch.pos[sel].to(preds.dtype)
        both = torch.cat([preds[sel], batch.y[sel].to(preds.dtype)], dim=1)
        cg = coarse_grain_field(both, pos, box[g], length)
        t = preds.shape[1]
        terms.append(((cg[:, :t] - cg[:, t:]) ** 2).mean())
    if not terms:
        return preds.sum() * 0.0
    return torch.stack(terms).mean()
