"""Augmentations for models that are not rotation invariant (the Bapst GNN).

They act on the edge displacement vectors, which is all such a model sees of geometry.
`CubicSymmetry` draws one of the symmetries of the square/cube (8 in 2D, 48 in 3D), as
Bapst et al. did: for a cubic box these map the periodic configuration onto itself, so
the augmented graph is a true configuration of the same system. `RandomRotation` draws
a uniform rotation, for comparisons with invariant models; it is not a symmetry of the
periodic box, so only the edge vectors are rotated.
"""

from __future__ import annotations

import itertools

import torch
from torch_geometric.data import Data


def hyperoctahedral_group(dim: int) -> torch.Tensor:
    """All signed permutation matrices in `dim` dimensions: [2^d d!, d, d] (48 for d=3)."""
    mats = []
    for perm in itertools.permutations(range(dim)):
        for signs in itertools.product((1.0, -1.0), repeat=dim):
            m = torch.zeros(dim, dim, dtype=torch.float64)
            for row, (col, s) in enumerate(zip(perm, signs, strict=True)):
                m[row, col] = s
            mats.append(m)
    return torch.stack(mats)


def apply_orthogonal(data: Data, matrix: torch.Tensor, move_positions: bool) -> Data:
    """Return a copy of `data` with edge vectors (and optionally positions) mapped by `matrix`.

    `edge_attr[:, :d]` holds the displacement vectors; any further columns (the distance)
    are invariant and left alone.
    """
    out = data.clone()
    d = matrix.shape[0]
    matrix = matrix.to(out.edge_attr.device)  # graphs may live on the GPU
    m = matrix.to(out.edge_attr.dtype)
    out.edge_attr = out.edge_attr.clone()
    out.edge_attr[:, :d] = out.edge_attr[:, :d] @ m.T
    if move_positions and getattr(out, "pos", None) is not None:
        box = out.box.reshape(-1).to(torch.float64)
        new_box = (matrix.abs() @ box).to(out.box.dtype)
        pos = out.pos.to(torch.float64) @ matrix.T
        out.pos = torch.remainder(pos, new_box.to(torch.float64)).to(out.pos.dtype)
        out.box = new_box.reshape(out.box.shape)
    return out


class CubicSymmetry:
    """Random element of the square/cube symmetry group, as in Bapst et al. (2020)."""

    def __init__(self) -> None:
        self._groups: dict[int, torch.Tensor] = {}

    def group(self, dim: int) -> torch.Tensor:
        if dim not in self._groups:
            self._groups[dim] = hyperoctahedral_group(dim)
        return self._groups[dim]

    def __call__(self, data: Data) -> Data:
        g = self.group(int(data.pos.shape[1]))
        k = int(torch.randint(len(g), (1,)).item())
        return apply_orthogonal(data, g[k], move_positions=True)

    def __repr__(self) -> str:
        return "CubicSymmetry()"


def random_rotation(dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform (Haar) random rotation in SO(dim), via QR of a Gaussian matrix."""
    a = torch.randn(dim, dim, dtype=torch.float64, generator=generator)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class RandomRotation:
    """Uniformly random rotation of the edge vectors (positions and box are left alone)."""

    def __call__(self, data: Data) -> Data:
        return apply_orthogonal(data, random_rotation(int(data.pos.shape[1])), False)

    def __repr__(self) -> str:
        return "RandomRotation()"
