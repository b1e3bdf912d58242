"""The graph network of Bapst et al., Nat. Phys. 16, 448 (2020), in plain PyTorch.

Encoder - processor - decoder, as in the reference implementation (DeepMind's
`glassy_dynamics/graph_model.py`):

* encoders: MLP 64-64 (ReLU) on nodes (particle type) and on edges (PBC displacement);
* processor: one graph-network block with shared weights applied `n_steps` = 7 times,
  each time on [current, encoded] features (skip connection). The edge update sees
  [edge, receiver, sender] (3 x 128 = 384 inputs), the node update [sum of received
  edges, node] (64 + 128 = 192 inputs), both MLP 64-64 (ReLU);
* decoder: MLP 64-64-1 per node, no final activation.

The reference decoder is a `GraphIndependent` block that also holds an edge MLP 64-64
whose output is discarded; `decode_edges=True` keeps it so that the parameter count
is the published 70,721 (type as one scalar, 3D displacement, one output). It gets no
gradient: under DDP use `strategy=ddp_find_unused_parameters_true`, or switch it off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch

NODE_FEATURES = ("type", "one_hot")
EDGE_FEATURES = ("displacement", "displacement_distance", "displacement_rbf")


# std of a standard normal truncated to [-2, 2] (scipy.stats.truncnorm(-2, 2).std()), the
# correction TF's variance_scaling_initializer applies to its truncated normal
TRUNCATED_NORMAL_STD = 0.87962566103423978


@torch.no_grad()
def variance_scaling_(tensor: torch.Tensor, scale: float, fan_in: int) -> torch.Tensor:
    """Fill `tensor` in place like TF's `variance_scaling_initializer(scale)` (fan_in mode,
    truncated normal): zero mean, variance scale / fan_in, no value beyond two of the
    untruncated standard deviations. `scale = 0` gives zeros."""
    if scale == 0:
        return tensor.zero_()
    std = math.sqrt(scale / max(1, fan_in)) / TRUNCATED_NORMAL_STD
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


def mlp(n_in: int, sizes: Sequence[int], activate_final: bool) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last one if `activate_final`)."""
    layers: list[nn.Module] = []
    for k, n_out in enumerate(sizes):
        layers.append(nn.Linear(n_in, n_out))
        if k < len(sizes) - 1 or activate_final:
            layers.append(nn.ReLU())
        n_in = n_out
    return nn.Sequential(*layers)


class BapstGNN(nn.Module):
    """Per-particle regression from a periodic neighbour graph.

    Takes a PyG batch with `species` [N], `x` (one-hot species) [N, S], `edge_index`
    [2, E] and `edge_attr` [E, d+1] = (displacement r_dst - r_src, distance); returns
    [N, num_targets]. `node_features="type"` feeds the species index as one scalar, as
    the reference does; `"one_hot"` feeds the one-hot vector. `edge_features` chooses
    the displacement alone (reference) or with the distance appended. `compile`:
    `torch.compile` the message passing (dynamic shapes).
    `separate_heads` gives every time scale its own decoder MLP instead of a shared
    decoder with `num_targets` outputs. `num_node_features` > 0 appends
    `batch.node_features` (expert descriptors) to the node input.
    """

    def __init__(
        self,
        dim: int = 3,
        num_species: int = 2,
        num_targets: int = 1,
        hidden: int = 64,
        n_steps: int = 7,
        node_features: str = "type",
        edge_features: str = "displacement",
        decode_edges: bool = True,
        separate_heads: bool = False,
        n_rbf: int = 16,
        rbf_cutoff: float = 2.0,
        layer_norm: bool = False,
        num_node_features: int = 0,
        compile: bool = False,
        init_weight_scale: float = 1.0,
        init_bias_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if init_weight_scale <= 0 or init_bias_scale < 0:
            raise ValueError(
                f"init_weight_scale={init_weight_scale} must be > 0 and "
                f"init_bias_scale={init_bias_scale} >= 0"
            )
        self.init_weight_scale = float(init_weight_scale)
        self.init_bias_scale = float(init_bias_scale)
        if node_features not in NODE_FEATURES:
            raise ValueError(f"node_features must be one of {NODE_FEATURES}")
        if edge_features not in EDGE_FEATURES:
            raise ValueError(f"edge_features must be one of {EDGE_FEATURES}")
        self.dim = dim
        self.hidden = hidden
        self.n_steps = n_steps
        self.node_features = node_features
        self.edge_features = edge_features
        node_in = 1 if node_features == "type" else num_species
        # expert descriptors (dataset.node_features) are concatenated to the node input
        self.num_node_features = int(num_node_features)
        node_in += self.num_node_features
        edge_in = {"displacement": dim, "displacement_distance": dim + 1}.get(
            edge_features, dim + n_rbf
        )
        # Gaussian radial basis of the distance: radial shells become linear features
        self.register_buffer("rbf_centers", torch.linspace(0.0, rbf_cutoff, n_rbf))
        self.rbf_width = rbf_cutoff / max(n_rbf - 1, 1)
        h = hidden
        self.node_encoder = mlp(node_in, [h, h], activate_final=True)
        self.edge_encoder = mlp(edge_in, [h, h], activate_final=True)
        self.edge_update = mlp(6 * h, [h, h], activate_final=True)
        self.node_update = mlp(3 * h, [h, h], activate_final=True)
        if separate_heads:
            self.decoders = nn.ModuleList(
                [mlp(h, [h, h, 1], activate_final=False) for _ in range(num_targets)]
            )
        else:
            self.decoders = nn.ModuleList([mlp(h, [h, h, num_targets], activate_final=False)])
        self.edge_decoder = mlp(h, [h, h], activate_final=True) if decode_edges else None
        # LayerNorm after every encoder/update MLP (as in MeshGraphNets): not in the paper,
        # but it removes the long initial plateau of short CPU trainings
        norm = (lambda: nn.LayerNorm(h)) if layer_norm else nn.Identity
        self.node_norm, self.edge_norm = norm(), norm()
        self.node_enc_norm, self.edge_enc_norm = norm(), norm()
        self.reset_parameters()
        # the data-dependent part (is the graph sorted?) stays outside the compiled graph
        self._compiled = torch.compile(self._propagate, dynamic=True) if compile else None

    def reset_parameters(self) -> None:
        """The reference's initialisation (`glassy_dynamics/train.py` gives every MLP the
        initializers `w=variance_scaling_initializer(1.0)`, `b=variance_scaling_initializer(0.1)`):
        TF1's variance scaling, mode fan_in, truncated normal cut at two standard
        deviations and rescaled so that the drawn variance is scale / fan_in. A bias vector
        counts its own length as fan_in (TF's `_compute_fans` of a 1-D shape), so the
        biases of a 64-unit layer have variance 0.1/64 and the single output's 0.1.

        Non-zero biases matter: with zero biases, species A (type 0.0) would be encoded as
        exactly zero. LayerNorm layers (`layer_norm=True`, not in the paper) keep their
        default unit scale and zero shift.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                variance_scaling_(module.weight, self.init_weight_scale, module.in_features)
                variance_scaling_(module.bias, self.init_bias_scale, module.out_features)

    def _node_input(self, batch: Batch) -> torch.Tensor:
        """Species (index or one-hot), with the descriptors appended when configured."""
        if self.node_features == "type":
            x_in = batch.species.to(batch.edge_attr.dtype).unsqueeze(1)
        else:
            x_in = batch.x
        if self.num_node_features:
            x_in = torch.cat([x_in, batch.node_features.to(x_in.dtype)], dim=1)
        return x_in

    def _edge_input(self, edge_attr: torch.Tensor) -> torch.Tensor:
        """The configured edge features from `edge_attr` = (displacement, distance)."""
        if self.edge_features == "displacement":
            return edge_attr[:, : self.dim]
        if self.edge_features == "displacement_distance":
            return edge_attr[:, : self.dim + 1]
        r = edge_attr[:, self.dim : self.dim + 1]
        rbf = torch.exp(-(((r - self.rbf_centers) / self.rbf_width) ** 2))
        return torch.cat([edge_attr[:, : self.dim], rbf], dim=1)

    def _edge_weights(self) -> tuple[torch.Tensor, ...]:
        """Column blocks of the edge MLP's first layer: [edge, encoded edge, receiver, sender]."""
        h = self.hidden
        return self.edge_update[0].weight.split([h, h, 2 * h, 2 * h], dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Encode, run `n_steps` shared message-passing steps, decode each node.

        Written for speed without changing the function: the edge MLP's first layer
        is linear, so its encoded-edge part is computed once per forward (it is the same
        in every step) and its receiver/sender parts on the N nodes before gathering onto
        the E >> N edges; received messages are summed with a segment
        reduction, since edges come sorted by receiver (falling back to `index_add` when
        they are not, and when compiled on a GPU).
        """
        x_in = self._node_input(batch)
        src, dst = batch.edge_index
        lengths = None
        # compiled on a GPU, index_add (atomics) needs no host sync and wins: the
        # sortedness test and bincount would stall the launch queue twice per forward
        # (H200, paper model: 113 graphs/s against 96; eager, the segment sum wins)
        if not (x_in.is_cuda and self._compiled is not None):
            sorted_dst = bool((dst[1:] >= dst[:-1]).all()) if dst.numel() > 1 else True
            lengths = torch.bincount(dst, minlength=x_in.shape[0]) if sorted_dst else None
        fn = self._compiled if self._compiled is not None else self._propagate
        return fn(x_in, self._edge_input(batch.edge_attr), src, dst, lengths)

    def _propagate(
        self,
        x_in: torch.Tensor,
        edge_in: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        lengths: torch.Tensor | None,
    ) -> torch.Tensor:
        """`forward` from node and edge inputs; `lengths`: edges per receiver when the
        edges are sorted by receiver, else None."""
        num_nodes = x_in.shape[0]
        x_enc = self.node_enc_norm(self.node_encoder(x_in))
        e_enc = self.edge_enc_norm(self.edge_encoder(edge_in))
        w_e, w_enc, w_recv, w_send = self._edge_weights()
        e_const = F.linear(e_enc, w_enc, self.edge_update[0].bias)
        x, e = x_enc, e_enc
        for _ in range(self.n_steps):
            xc = torch.cat([x, x_enc], dim=1)
            recv = F.linear(xc, w_recv)
            send = F.linear(xc, w_send)
            pre = F.linear(e, w_e) + e_const
            pre = pre + recv.index_select(0, dst) + send.index_select(0, src)
            e = self.edge_norm(self.edge_update[2:](F.relu(pre)))
            if lengths is not None:
                received = torch.segment_reduce(e, "sum", lengths=lengths)
            else:
                received = torch.zeros(num_nodes, self.hidden, dtype=e.dtype, device=e.device)
                received = received.index_add(0, dst, e)
            x = self.node_norm(self.node_update(torch.cat([received, xc], dim=1)))
        return torch.cat([dec(x) for dec in self.decoders], dim=1)

    def reference_forward(self, batch: Batch) -> torch.Tensor:
        """Straightforward version of `forward` (explicit concatenations), for testing."""
        x_in = self._node_input(batch)
        src, dst = batch.edge_index
        x_enc = self.node_enc_norm(self.node_encoder(x_in))
        e_enc = self.edge_enc_norm(self.edge_encoder(self._edge_input(batch.edge_attr)))
        x, e = x_enc, e_enc
        for _ in range(self.n_steps):
            xc = torch.cat([x, x_enc], dim=1)
            e = self.edge_norm(self.edge_update(torch.cat([e, e_enc, xc[dst], xc[src]], dim=1)))
            received = torch.zeros_like(x).index_add(0, dst, e)
            x = self.node_norm(self.node_update(torch.cat([received, xc], dim=1)))
        return torch.cat([dec(x) for dec in self.decoders], dim=1)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not): the figure papers quote."""
    return sum(p.numel() for p in module.parameters())
