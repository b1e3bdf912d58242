"""Augmentations: the cube symmetries map a periodic configuration onto itself."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from glassml.data.graph import periodic_edges
from glassml.data.transforms import (
    CubicSymmetry,
    RandomRotation,
    apply_orthogonal,
    hyperoctahedral_group,
    random_rotation,
)


@pytest.mark.parametrize(("dim", "order"), [(2, 8), (3, 48)])
def test_group(dim: int, order: int) -> None:
    g = hyperoctahedral_group(dim)
    assert g.shape == (order, dim, dim)
    assert len({tuple(m.flatten().tolist()) for m in g}) == order
    eye = torch.eye(dim, dtype=torch.float64)
    for m in g:
        torch.testing.assert_close(m @ m.T, eye)


def graph(pos: np.ndarray, box: np.ndarray, cutoff: float) -> Data:
    ei, vec = periodic_edges(pos, box, cutoff)
    v = torch.tensor(vec)
    return Data(
        pos=torch.tensor(pos),
        box=torch.tensor(box).reshape(1, -1),
        edge_index=torch.tensor(ei),
        edge_attr=torch.cat([v, v.norm(dim=1, keepdim=True)], dim=1),
        num_nodes=len(pos),
    )


def edge_map(ei: torch.Tensor, attr: torch.Tensor) -> dict:
    return {(int(s), int(t)): a for s, t, a in zip(ei[0], ei[1], attr, strict=True)}


@pytest.mark.parametrize("dim", [2, 3])
def test_cubic_symmetry_maps_configuration_onto_itself(dim: int) -> None:
    rng = np.random.default_rng(dim)
    box = np.full(dim, 5.0)
    pos = rng.uniform(0, 5.0, (60, dim))
    cutoff = 2.0
    data = graph(pos, box, cutoff)
    for m in hyperoctahedral_group(dim):
        moved = apply_orthogonal(data, m, move_positions=True)
        # rebuild the graph from the transformed configuration: same pairs, and the
        # displacement vectors are the transformed ones (distances preserved)
        rebuilt = graph(moved.pos.numpy(), moved.box.reshape(-1).numpy(), cutoff)
        got = edge_map(moved.edge_index, moved.edge_attr)
        ref = edge_map(rebuilt.edge_index, rebuilt.edge_attr)
        assert got.keys() == ref.keys()
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], atol=1e-9, rtol=0)


def test_cubic_symmetry_non_cubic_box_permutes_edges() -> None:
    rng = np.random.default_rng(5)
    box = np.array([5.0, 6.0, 7.0])
    data = graph(rng.uniform(0, 1, (50, 3)) * box, box, 2.0)
    torch.manual_seed(0)
    out = CubicSymmetry()(data)
    torch.testing.assert_close(
        torch.sort(out.box.reshape(-1))[0], torch.tensor([5.0, 6.0, 7.0], dtype=out.box.dtype)
    )
    assert torch.all((out.pos >= 0) & (out.pos < out.box))


def test_random_rotation_preserves_distances() -> None:
    rng = np.random.default_rng(3)
    data = graph(rng.uniform(0, 5, (40, 3)), np.full(3, 5.0), 2.0)
    torch.manual_seed(1)
    out = RandomRotation()(data)
    torch.testing.assert_close(out.edge_attr[:, :3].norm(dim=1), data.edge_attr[:, 3])
    torch.testing.assert_close(out.pos, data.pos)
    r = random_rotation(3)
    assert torch.det(r) == pytest.approx(1.0)
    assert not torch.allclose(out.edge_attr, data.edge_attr)
