"""The Bapst GNN: parameter count of the paper, shapes, and the fast path's correctness."""

import numpy as np
import pytest
import torch
from scipy import stats
from torch_geometric.data import Batch, Data

from glassml.data.graph import periodic_edges
from glassml.models import BapstGNN, count_parameters
from glassml.models.bapst import TRUNCATED_NORMAL_STD, variance_scaling_


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


def test_variance_scaling_matches_tf_truncated_normal() -> None:
    """TF1 `variance_scaling_initializer(scale)`: truncated normal cut at two untruncated
    standard deviations, rescaled so that the drawn variance is scale / fan_in; checked
    against scipy's truncated normal (Kolmogorov-Smirnov) and its moments."""
    torch.manual_seed(0)
    fan_in, scale = 384, 1.0
    w = variance_scaling_(torch.empty(200_000), scale, fan_in).double().numpy()
    sigma = np.sqrt(scale / fan_in) / TRUNCATED_NORMAL_STD
    ref = stats.truncnorm(-2.0, 2.0, loc=0.0, scale=sigma)
    assert stats.kstest(w, ref.cdf).pvalue > 1e-3
    assert w.std() == pytest.approx(np.sqrt(scale / fan_in), rel=0.01)
    assert np.abs(w).max() <= 2 * sigma
    assert abs(TRUNCATED_NORMAL_STD - stats.truncnorm(-2, 2).std()) < 1e-12
    assert float(variance_scaling_(torch.ones(5), 0.0, 10).abs().max()) == 0.0


def test_reference_initialisation() -> None:
    """Weights variance 1/fan_in, biases variance 0.1/len(bias), as the reference's
    initializers (glassy_dynamics/train.py); species A (type 0) is not encoded as zero."""
    torch.manual_seed(0)
    model = BapstGNN(hidden=256)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    for m in linears:
        w = m.weight.detach().double()
        if w.numel() >= 10_000:
            assert float(w.std()) == pytest.approx(m.in_features**-0.5, rel=0.05)
        sigma = m.in_features**-0.5 / TRUNCATED_NORMAL_STD
        assert float(w.abs().max()) <= 2 * sigma + 1e-6
        assert float(m.bias.detach().abs().max()) <= 2 * (0.1 / m.out_features) ** 0.5 / 0.87
    hidden_biases = torch.cat([m.bias.detach() for m in linears if m.out_features == 256])
    assert hidden_biases.numel() == 12 * 256
    assert float(hidden_biases.double().std()) == pytest.approx((0.1 / 256) ** 0.5, rel=0.06)
    # the single output's bias: variance 0.1 (fan_in of a 1-D shape is its length, 1)
    small = BapstGNN(hidden=4, n_steps=1)
    out_biases = []
    for _ in range(1000):
        small.reset_parameters()
        out_biases.append(float(small.decoders[0][-1].bias.detach()))
    assert float(np.std(out_biases)) == pytest.approx(0.1**0.5, rel=0.08)
    # zero biases would encode type 0.0 as exactly zero
    enc = model.node_encoder(torch.zeros(1, 1))
    assert float(enc.abs().sum()) > 0
    # other scales are configurable; the bias scale may be zero
    zero = BapstGNN(init_bias_scale=0.0)
    assert all(float(m.bias.abs().max()) == 0 for m in zero.modules() if hasattr(m, "bias"))
    with pytest.raises(ValueError, match="init_weight_scale"):
        BapstGNN(init_weight_scale=0.0)


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
