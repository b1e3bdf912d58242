"""The Bapst GNN: parameter count of the paper, shapes, and the fast path's correctness."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from glassml.data.graph import periodic_edges
from glassml.models import BapstGNN, count_parameters


def make_batch(n: int = 60, dim: int = 3, seed: int = 0, n_graphs: int = 2) -> Batch:
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(n_graphs):
        box = np.full(dim, (n / 1.2) ** (1 / dim))
        pos = rng.uniform(0, 1, (n, dim)) * box
        ei, vec = periodic_edges(pos, box, 2.0)
        v = torch.tensor(vec, dtype=torch.float32)
        species = torch.tensor(rng.integers(0, 2, n))
        graphs.append(
            Data(
                x=torch.nn.functional.one_hot(species, 2).float(),
                species=species,
                edge_index=torch.tensor(ei),
                edge_attr=torch.cat([v, v.norm(dim=1, keepdim=True)], dim=1),
                num_nodes=n,
            )
        )
    return Batch.from_data_list(graphs)


def test_paper_parameter_count() -> None:
    assert count_parameters(BapstGNN()) == 70_721
    assert count_parameters(BapstGNN(dim=3, num_targets=1, hidden=64, n_steps=7)) == 70_721
    # one output per time scale: only the decoder's last layer grows
    assert count_parameters(BapstGNN(num_targets=10)) == 70_721 + 9 * 65
    # without the unused edge decoder of the reference implementation
    assert count_parameters(BapstGNN(decode_edges=False)) == 70_721 - 2 * (64 * 64 + 64)
    # LayerNorm adds 2 x 64 per normalised MLP output (node/edge encoders and updates)
    assert count_parameters(BapstGNN(layer_norm=True)) == 70_721 + 4 * 128


def test_reference_initialisation() -> None:
    torch.manual_seed(0)
    model = BapstGNN(hidden=256)
    w = model.edge_update[0].weight.detach()  # fan_in 6 x 256
    assert float(w.std()) == pytest.approx(0.88 / (6 * 256) ** 0.5, rel=0.05)
    assert float(w.abs().max()) <= 2 / (6 * 256) ** 0.5 + 1e-6
    biases = [m.bias.detach() for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(float(b.abs().max()) == 0.0 for b in biases)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize(
    ("node_features", "edge_features", "separate_heads", "layer_norm"),
    [
        ("type", "displacement", False, False),
        ("one_hot", "displacement_distance", True, False),
        ("one_hot", "displacement_rbf", False, True),
    ],
)
def test_forward_matches_reference(
    dim, node_features, edge_features, separate_heads, layer_norm
) -> None:
    torch.manual_seed(0)
    batch = make_batch(dim=dim)
    model = BapstGNN(
        dim=dim,
        num_targets=3,
        hidden=16,
        n_steps=3,
        node_features=node_features,
        edge_features=edge_features,
        separate_heads=separate_heads,
        layer_norm=layer_norm,
    )
    out = model(batch)
    assert out.shape == (batch.num_nodes, 3)
    torch.testing.assert_close(out, model.reference_forward(batch), atol=1e-5, rtol=1e-5)


def test_unsorted_edges_fall_back() -> None:
    torch.manual_seed(0)
    batch = make_batch()
    model = BapstGNN(hidden=16, n_steps=2)
    ref = model(batch)
    perm = torch.randperm(batch.num_edges)
    shuffled = batch.clone()
    shuffled.edge_index = batch.edge_index[:, perm]
    shuffled.edge_attr = batch.edge_attr[perm]
    torch.testing.assert_close(model(shuffled), ref, atol=1e-5, rtol=1e-5)


def test_permutation_equivariance_and_gradients() -> None:
    torch.manual_seed(0)
    batch = make_batch(n_graphs=1)
    model = BapstGNN(hidden=16, n_steps=2, decode_edges=False)
    out = model(batch)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    perm = torch.randperm(batch.num_nodes)
    inv = torch.argsort(perm)
    moved = batch.clone()
    moved.species = batch.species[perm]
    moved.x = batch.x[perm]
    moved.edge_index = inv[batch.edge_index]
    torch.testing.assert_close(model(moved), out[perm], atol=1e-5, rtol=1e-5)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="node_features"):
        BapstGNN(node_features="mass")
    with pytest.raises(ValueError, match="edge_features"):
        BapstGNN(edge_features="angle")


def test_compiled_model_matches_eager() -> None:
    torch.manual_seed(0)
    options = {"hidden": 16, "n_steps": 2, "layer_norm": True, "decode_edges": False}
    eager = BapstGNN(**options)
    compiled = BapstGNN(**options, compile=True)
    compiled.load_state_dict(eager.state_dict())  # same parameter names: checkpoints load
    for seed, n in [(0, 60), (1, 75)]:  # a second size: dynamic shapes, no recompilation
        batch = make_batch(n=n, seed=seed)
        torch.testing.assert_close(compiled(batch), eager(batch), atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(compiled(batch).sum(), list(compiled.parameters()))
    ref = torch.autograd.grad(eager(batch).sum(), list(eager.parameters()))
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r, atol=1e-3, rtol=1e-3)  # float32 sums reordered
