"""Radial bases for message-passing on particle graphs, smoothly cut off at r_c.

Every function of the basis goes to zero (with its first derivatives) at the cut-off, so
a particle that crosses r_c changes the prediction continuously: the learned radial
filters cannot depend on where exactly the neighbour list stops.
"""

from __future__ import annotations

import math

import torch
from torch import nn

RADIAL_BASES = ("bessel", "gaussian")


def polynomial_envelope(x: torch.Tensor, p: int = 6) -> torch.Tensor:
    """The NequIP/DimeNet envelope u(x), x = r/r_c: u(0) = 1, u = u' = u'' = 0 at x = 1.

    Zero beyond the cut-off (the polynomial itself turns negative there).
    """
    u = (
        1.0
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    return torch.where(x < 1.0, u, torch.zeros_like(u))


class RadialBasis(nn.Module):
    """`n` radial functions of the distance times the polynomial envelope.

    * `bessel`: sqrt(2/r_c) sin(k pi r / r_c) / r, k = 1..n (DimeNet, NequIP), the
      eigenfunctions of a spherical cavity of radius r_c;
    * `gaussian`: exp(-(r - mu_k)^2 / (2 w^2)), centres mu_k evenly on [0, r_c], width
      w = spacing.

    Distances must be positive (self-loops are dropped before this is called).
    """

    def __init__(
        self, n: int = 8, cutoff: float = 2.0, kind: str = "bessel", envelope_p: int = 6
    ) -> None:
        super().__init__()
        if kind not in RADIAL_BASES:
            raise ValueError(f"model.net.radial_basis must be one of {RADIAL_BASES}, got {kind!r}")
        if n < 1 or cutoff <= 0:
            raise ValueError(f"model.net.n_basis ({n}) and cutoff ({cutoff}) must be positive")
        self.n = n
        self.cutoff = float(cutoff)
        self.kind = kind
        self.envelope_p = envelope_p
        if kind == "bessel":
            self.register_buffer("freq", torch.arange(1, n + 1, dtype=torch.float32) * math.pi)
        else:
            self.register_buffer("centers", torch.linspace(0.0, cutoff, n))
            self.width = cutoff / max(n - 1, 1)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """[E] distances -> [E, n] basis values."""
        x = (r / self.cutoff).unsqueeze(-1)
        if self.kind == "bessel":
            basis = math.sqrt(2.0 / self.cutoff) * torch.sin(self.freq.to(r.dtype) * x)
            basis = basis / r.unsqueeze(-1)
        else:
            diff = r.unsqueeze(-1) - self.centers.to(r.dtype)
            basis = torch.exp(-0.5 * (diff / self.width) ** 2)
        return basis * polynomial_envelope(x, self.envelope_p)

    def extra_repr(self) -> str:
        return f"n={self.n}, cutoff={self.cutoff}, kind={self.kind}, p={self.envelope_p}"
