"""Ridge regression on expert descriptors, fitted in closed form (the linear baseline).

One linear model per species (y = X w_s + b_s), fitted on that species' training
particles by solving (Xc^T Xc + alpha n I) w = Xc^T yc with centred X and y (the bias is
not penalised). With several `alphas`, the one with the lowest validation MSE (on the
`train_species` particles) is kept; refitting is deterministic, so a resumed run gives
the same weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch

from glassml.models.glass_mlp import node_features

log = logging.getLogger(__name__)


def _moments(graphs: Sequence[Any], species: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Augmented moments [F+1, F+1] of (X, 1) and [F+1, T] of (X, 1)^T y for one species."""
    xtx: np.ndarray | None = None
    xty: np.ndarray | None = None
    n = 0
    for g in graphs:
        m = (g.species == species).numpy()
        if not m.any():
            continue
        x = g.node_features.numpy()[m].astype(np.float64)
        x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
        y = g.y.numpy()[m].astype(np.float64)
        xtx = x.T @ x if xtx is None else xtx + x.T @ x
        xty = x.T @ y if xty is None else xty + x.T @ y
        n += int(m.sum())
    if xtx is None or xty is None:
        return np.zeros((0, 0)), np.zeros((0, 0)), 0
    return xtx, xty, n


def solve_ridge(xtx: np.ndarray, xty: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """[F+1, T] weights (last row = bias) from augmented moments; bias unpenalised.

    Centring: Sxx = X^T X - n mu mu^T, Sxy = X^T y - n mu ybar^T; w = (Sxx + alpha n I)^-1 Sxy.
    """
    f = xtx.shape[0] - 1
    mu = xtx[:f, f] / n
    ybar = xty[f] / n
    sxx = xtx[:f, :f] - n * np.outer(mu, mu)
    sxy = xty[:f] - n * np.outer(mu, ybar)
    w = np.linalg.solve(sxx + alpha * n * np.eye(f), sxy)
    b = ybar - mu @ w
    return np.vstack([w, b[None]])


class RidgeRegression(nn.Module):
    """y = X w_s + b_s per species s; `fit_closed_form(datamodule)` sets w and b."""

    #: PropensityModule skips gradient steps for closed-form models (one epoch, no updates)
    closed_form = True

    def __init__(
        self,
        dim: int = 3,
        num_species: int = 2,
        num_targets: int = 1,
        num_node_features: int = 0,
        alphas: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0),
        per_species: bool = True,
    ) -> None:
        super().__init__()
        alphas = [float(a) for a in alphas]
        if not alphas or any(a < 0 for a in alphas):
            raise ValueError(f"model.net.alphas must be a non-empty list of values >= 0: {alphas}")
        self.dim = dim
        self.num_node_features = int(num_node_features)
        self.alphas = alphas
        self.per_species = per_species
        n_models = num_species if per_species else 1
        self.weight = nn.Parameter(torch.zeros(n_models, num_node_features, num_targets))
        self.bias = nn.Parameter(torch.zeros(n_models, num_targets))
        self.register_buffer("alpha", torch.tensor(float("nan")))

    def _index(self, batch: Batch) -> torch.Tensor:
        if not self.per_species:
            return torch.zeros_like(batch.species)
        return batch.species.clamp(max=self.weight.shape[0] - 1)

    def forward(self, batch: Batch) -> torch.Tensor:
        idx = self._index(batch)
        x = node_features(batch, self.num_node_features, "ridge regression")
        return torch.einsum("nf,nft->nt", x, self.weight[idx]) + self.bias[idx]

    @torch.no_grad()
    def fit_closed_form(self, datamodule: Any) -> None:
        """Fit on the training split; pick alpha by validation MSE on `train_species`."""
        train = datamodule.datasets["train"].graphs
        node_features(train[0], self.num_node_features, "ridge regression")
        val = datamodule.datasets["val"].graphs if "val" in datamodule.datasets else []
        train_species = list(datamodule.info.train_species)
        groups = list(range(self.weight.shape[0])) if self.per_species else [None]
        moments = {}
        for s in groups:
            if s is None:
                parts = [_moments(train, sp) for sp in range(int(datamodule.info.num_species))]
                parts = [p for p in parts if p[2] > 0]
                moments[s] = (
                    sum(p[0] for p in parts),
                    sum(p[1] for p in parts),
                    sum(p[2] for p in parts),
                )
            else:
                moments[s] = _moments(train, s)
        best: tuple[float, float, dict[Any, np.ndarray]] | None = None
        for alpha in self.alphas:
            sol = {s: solve_ridge(*moments[s], alpha) for s in groups if moments[s][2] > 1}
            err = self._val_mse(sol, val, train_species) if val else 0.0
            log.info("ridge alpha=%g: validation MSE %.5f", alpha, err)
            if best is None or err < best[0]:
                best = (err, alpha, sol)
        assert best is not None
        _, alpha, sol = best
        for k, s in enumerate(groups):
            if s in sol:
                self.weight[k] = torch.from_numpy(sol[s][:-1]).to(self.weight)
                self.bias[k] = torch.from_numpy(sol[s][-1]).to(self.bias)
        self.alpha.fill_(alpha)

    def _val_mse(
        self, sol: dict[Any, np.ndarray], graphs: Sequence[Any], train_species: list[int]
    ) -> float:
        total, count = 0.0, 0
        for g in graphs:
            x = g.node_features.numpy().astype(np.float64)
            x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
            y = g.y.numpy().astype(np.float64)
            sp = g.species.numpy()
            for s in train_species:
                key = s if self.per_species else None
                m = sp == s
                if key not in sol or not m.any():
                    continue
                total += float(((x[m] @ sol[key] - y[m]) ** 2).sum())
                count += int(m.sum()) * y.shape[1]
        return total / max(count, 1)
