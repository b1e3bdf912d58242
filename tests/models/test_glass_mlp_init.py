"""GlassMLP's layers start as Keras' Dense does in the authors' code: Glorot-uniform
weights, zero biases."""

from __future__ import annotations

import math

import torch

from glassml.models.glass_mlp import GlassMLP, keras_dense


def test_keras_dense_draws_glorot_uniform_weights_and_zero_biases() -> None:
    torch.manual_seed(0)
    layer = keras_dense(300, 200)
    limit = math.sqrt(6.0 / (300 + 200))
    w = layer.weight.detach()
    assert float(w.abs().max()) <= limit
    # uniform on [-limit, limit]: variance limit^2 / 3 = 2 / (fan_in + fan_out)
    assert math.isclose(float(w.var()), 2.0 / 500, rel_tol=0.02)
    assert abs(float(w.mean())) < 4 * limit / math.sqrt(3 * w.numel())
    assert torch.count_nonzero(layer.bias) == 0


def test_every_glass_mlp_layer_is_keras_initialised() -> None:
    torch.manual_seed(1)
    net = GlassMLP(num_species=2, num_targets=3, num_node_features=72)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2 * 3 * 4  # per species and time: 72 -> 2 -> 10 -> 10 -> 1
    for layer in linears:
        fan_out, fan_in = layer.weight.shape
        assert float(layer.weight.abs().max()) <= math.sqrt(6.0 / (fan_in + fan_out))
        assert torch.count_nonzero(layer.bias) == 0
