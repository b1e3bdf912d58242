"""Rotation-equivariant graph network for propensity (Pezzicoli, Charpiat, Landes, 2024).

SciPost Phys. 16, 136 (2024), arXiv:2211.03226: e3nn convolutions on the periodic
neighbour graph, invariant per-particle output, one network for all time scales. The
paper fixes the ideas, not every detail; the choices made here (NequIP-style) are:

* **inputs**: per particle the species one-hot and, optionally, `num_node_features`
  extra scalars (`batch.node_features`, e.g. potential energy), all as `0e` channels;
  per edge the PBC vector from the particle to its neighbour, r_j - r_i.
* **first convolution** (`SpeciesConvolution`, no mixing before it): for every input
  channel u, every l <= l_max and m,
  D_{u,lm}(i) = sum_{j in N(i)} x_u(j) w_{u,l}(r_ij) Y_lm(r_ij / |r_ij|),
  with w the output of a radial MLP on a smooth Bessel (or Gaussian) basis. For
  one-hot x this is a species-resolved, radially weighted density (l = 0) and the
  unnormalised bond-orientational order q_lm (l >= 1): the expert descriptors
  (`first_layer_descriptors`).
* **interaction blocks**: self-interaction (linear), channel-wise 'uvu' tensor product
  of the features of the neighbour with the spherical harmonics of the edge, weighted
  per edge by a radial MLP, sum over neighbours / sqrt(avg_num_neighbors), linear
  mixing, gated nonlinearity (SiLU on scalars, sigmoid gates on l > 0), plus a linear
  self-connection of the particle's own features; residual connections and an
  equivariant layer norm before every block.
* **irreps**: equal multiplicities across l, `mul x 0e + mul x 1o + mul x 2e + ...` (the
  parity of a polar vector field), so the network is invariant under the full E(3):
  rotations, reflections, translations, and permutations of particles.
* **decoder**: MLP on the scalar channels with one output per (species, time scale);
  each particle takes the row of its own species, so the output stays
  [num_nodes, num_targets] and one network serves every time scale and species.

Two-dimensional data are embedded in 3D with z = 0; the symmetries of the network are
then the rotations about z and the in-plane reflections (still everything a 2D liquid
has), and the spherical harmonics see only the in-plane angle.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from e3nn import o3
from e3nn.math import normalize2mom
from e3nn.nn import FullyConnectedNet
from torch import nn
from torch_geometric.data import Batch

from glassml.models.cueq import BACKENDS, CueqChannelwiseConv
from glassml.models.radial import RadialBasis

RadialFn = Callable[[torch.Tensor], torch.Tensor]


def default_irreps(mul: int, l_max: int) -> o3.Irreps:
    """`mul x 0e + mul x 1o + ... + mul x l_max p`: equal multiplicities, polar parity."""
    return o3.Irreps([(mul, (ell, (-1) ** ell)) for ell in range(l_max + 1)])


def channelwise_instructions(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_target: o3.Irreps
) -> tuple[o3.Irreps, list[tuple[int, int, int, str, bool]]]:
    """Output irreps and 'uvu' instructions of a channel-wise product, sorted by output.

    Paths are all (input irrep, spherical harmonic) pairs whose product contains an irrep
    of `irreps_target`; the output irreps are sorted and the instructions (hence the
    per-edge weights) follow the sorted output, which is cuEquivariance's layout.
    """
    collected: list[tuple[int, o3.Irrep]] = []
    paths: list[tuple[int, int, int]] = []
    targets = {ir for _, ir in irreps_target}
    for i1, (mul, ir1) in enumerate(irreps_in):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir_out in ir1 * ir2:
                if ir_out in targets:
                    paths.append((i1, i2, len(collected)))
                    collected.append((mul, ir_out))
    irreps_mid, perm, _ = o3.Irreps(collected).sort()
    instructions = sorted(
        ((i1, i2, perm[k], "uvu", True) for i1, i2, k in paths), key=lambda ins: ins[2]
    )
    return irreps_mid, instructions


def scatter_sum(src: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sum of the rows of `src` into `num_nodes` rows by `index`."""
    out = torch.zeros(num_nodes, src.shape[1], dtype=src.dtype, device=src.device)
    return out.index_add(0, index, src)


class EquivariantLayerNorm(nn.Module):
    """Layer norm that commutes with rotations.

    Scalars (0e): mean and variance over the channels, as `nn.LayerNorm`. Every other
    block: divided by the root-mean-square over channels of its (rotation-invariant)
    per-component norm, then scaled per channel; no bias, which would break equivariance.
    """

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-5) -> None:
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.eps = eps
        # plain integers: what the forward pass (and torch.compile) sees
        self.blocks = [
            (mul, ir.dim, ir.l == 0 and ir.p == 1, sl.start, sl.stop)
            for (mul, ir), sl in zip(self.irreps, self.irreps.slices(), strict=True)
        ]
        self.weights = nn.ParameterList([nn.Parameter(torch.ones(mul)) for mul, _ in self.irreps])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(b[0])) for b in self.blocks if b[2]]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        k_bias = 0
        for (mul, dim, scalar, start, stop), w in zip(self.blocks, self.weights, strict=True):
            block = x[:, start:stop].reshape(-1, mul, dim)
            if scalar:
                block = block - block.mean(dim=1, keepdim=True)
                var = block.pow(2).mean(dim=(1, 2), keepdim=True)
                block = block * torch.rsqrt(var + self.eps) * w[:, None]
                block = block + self.biases[k_bias][:, None]
                k_bias += 1
            else:
                ms = block.pow(2).mean(dim=(1, 2), keepdim=True)
                block = block * torch.rsqrt(ms + self.eps) * w[:, None]
            out.append(block.reshape(-1, mul * dim))
        return torch.cat(out, dim=1)


class GatedNonlinearity(nn.Module):
    """e3nn's gate on `irreps_out` = scalars + (l > 0 blocks), in plain tensor operations.

    Input: [scalars, one gate per l > 0 irrep, the l > 0 blocks]; output: SiLU(scalars)
    and every l > 0 irrep times sigmoid(its gate), both activations normalised to unit
    second moment as in `e3nn.nn.Gate` (same numbers, tested), but written on integer
    offsets so that `torch.compile` can trace it.
    """

    def __init__(self, irreps_out: o3.Irreps) -> None:
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        self.n_scalars = sum(mul for mul, ir in irreps_out if ir.l == 0)
        gated = [(mul, ir.dim) for mul, ir in irreps_out if ir.l > 0]
        if any(ir.l == 0 for _, ir in irreps_out[len(irreps_out) - len(gated) :]):
            raise ValueError(f"irreps {irreps_out} must list scalars before l > 0 irreps")
        if any(ir.p != 1 for mul, ir in irreps_out if ir.l == 0):
            raise ValueError(f"only even scalars (0e) are supported, got {irreps_out}")
        self.gated = gated
        self.n_gates = sum(mul for mul, _ in gated)
        # e3nn's layout: scalars and gates in one 0e block, then the l > 0 blocks
        gated_irreps = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        scalars_and_gates = o3.Irreps(f"{self.n_scalars + self.n_gates}x0e")
        self.irreps_in = (scalars_and_gates + gated_irreps).simplify()
        self.irreps_out = irreps_out
        self.act_scalars = normalize2mom(F.silu)
        self.act_gates = normalize2mom(torch.sigmoid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n0, ng = self.n_scalars, self.n_gates
        out = [self.act_scalars(x[:, :n0])]
        gates = self.act_gates(x[:, n0 : n0 + ng])
        start, g = n0 + ng, 0
        for mul, dim in self.gated:
            block = x[:, start : start + mul * dim].reshape(-1, mul, dim)
            out.append((block * gates[:, g : g + mul, None]).reshape(-1, mul * dim))
            start, g = start + mul * dim, g + mul
        return torch.cat(out, dim=1)


def radial_mlp(n_basis: int, hidden: int, layers: int, n_out: int) -> FullyConnectedNet:
    """e3nn's variance-preserving MLP (no biases), SiLU: basis -> per-edge weights."""
    return FullyConnectedNet([n_basis] + [hidden] * layers + [n_out], act=F.silu)


class SpeciesConvolution(nn.Module):
    """First convolution: scalar channels x spherical harmonics, no mixing before it.

    With only `0e` inputs the 'uvu' tensor product reduces to a product, computed
    directly: D_{u,lm}(i) = sum_j x_u(j) w_{u,l}(r_ij) Y_lm(r_ij) (see the module doc).
    The output irreps are `C x 0e + C x 1o + ...`, C = number of input channels.
    """

    def __init__(
        self, channels: int, l_max: int, n_basis: int, radial_hidden: int, radial_layers: int
    ) -> None:
        super().__init__()
        self.channels = channels
        self.l_max = l_max
        self.irreps_out = default_irreps(channels, l_max)
        self.radial = radial_mlp(n_basis, radial_hidden, radial_layers, channels * (l_max + 1))

    def messages(
        self, x_src: torch.Tensor, weights: torch.Tensor, sh: torch.Tensor
    ) -> torch.Tensor:
        """Per-edge x_u w_{u,l} Y_lm in e3nn's layout, from weights [E, C, l_max + 1]."""
        out = []
        for ell in range(self.l_max + 1):
            y = sh[:, ell * ell : (ell + 1) * (ell + 1)]
            block = (x_src * weights[:, :, ell]).unsqueeze(2) * y.unsqueeze(1)
            out.append(block.reshape(x_src.shape[0], self.channels * (2 * ell + 1)))
        return torch.cat(out, dim=1)

    def radial_weights(self, basis: torch.Tensor) -> torch.Tensor:
        """w_{u,l}(r) [E, C, l_max + 1] from the radial basis [E, n_basis]."""
        return self.radial(basis).reshape(-1, self.channels, self.l_max + 1)

    def forward(
        self,
        x: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        sh: torch.Tensor,
        basis: torch.Tensor,
    ) -> torch.Tensor:
        msg = self.messages(x.index_select(0, src), self.radial_weights(basis), sh)
        return scatter_sum(msg, dst, x.shape[0])


class Interaction(nn.Module):
    """NequIP-style interaction block: linear, 'uvu' convolution, linear, gate."""

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_sh: o3.Irreps,
        n_basis: int,
        radial_hidden: int,
        radial_layers: int,
        avg_num_neighbors: float,
        self_interaction: bool = True,
        backend: str = "e3nn",
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.norm_const = 1.0 / math.sqrt(avg_num_neighbors)
        self.pre = o3.Linear(self.irreps_in, self.irreps_in) if self_interaction else None
        self.gate = GatedNonlinearity(self.irreps_out)
        irreps_mid, instructions = channelwise_instructions(
            self.irreps_in, irreps_sh, self.irreps_out
        )
        self.irreps_mid = irreps_mid
        self.tp = o3.TensorProduct(
            self.irreps_in,
            irreps_sh,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.cueq = (
            CueqChannelwiseConv(self.irreps_in, irreps_sh, irreps_mid)
            if backend == "cueq"
            else None
        )
        self.radial = radial_mlp(n_basis, radial_hidden, radial_layers, self.tp.weight_numel)
        self.post = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.self_connection = o3.Linear(self.irreps_in, self.gate.irreps_in)

    def convolve(
        self,
        h: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        sh: torch.Tensor,
        basis: torch.Tensor,
    ) -> torch.Tensor:
        """Sum over neighbours of the weighted tensor products (irreps_mid)."""
        w = self.radial(basis)
        if self.cueq is not None:
            return self.cueq(h, sh, w, src, dst, h.shape[0])
        return scatter_sum(self.tp(h.index_select(0, src), sh, w), dst, h.shape[0])

    def forward(
        self,
        x: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        sh: torch.Tensor,
        basis: torch.Tensor,
    ) -> torch.Tensor:
        h = self.pre(x) if self.pre is not None else x
        agg = self.convolve(h, src, dst, sh, basis) * self.norm_const
        return self.gate(self.post(agg) + self.self_connection(x))


class SE3GNN(nn.Module):
    """E(3)-invariant per-particle regression from a periodic neighbour graph.

    Takes a PyG batch with `species` [N], `x` (species one-hot) [N, S], `edge_index`
    [2, E] and `edge_attr` [E, d+1] = (r_dst - r_src, distance), and, when
    `num_node_features` > 0, `node_features` [N, F]; returns [N, num_targets]. Edges
    with zero length (self-loops) or beyond `cutoff` are ignored, so the dataset's
    graph cut-off must be at least `cutoff`.

    Arguments (all `model.net.*` config values):
    `mul`, `l_max`: hidden irreps `mul x 0e + mul x 1o + ... ` up to l_max, also the
    degree of the spherical harmonics (`hidden_irreps` overrides the former);
    `n_layers`: convolutions (the first one is `SpeciesConvolution`); `n_basis`,
    `radial_basis`, `cutoff`, `envelope_p`: radial basis; `radial_hidden`,
    `radial_layers`: radial MLP; `decoder_hidden`: decoder MLP width; `avg_num_neighbors`:
    normalisation of neighbour sums; `per_species_head`: one output row per species;
    `layer_norm`: equivariant layer norm before each block; `backend`: `e3nn` or `cueq`
    for the convolution; `compile`: `torch.compile` the forward pass.
    """

    def __init__(
        self,
        dim: int = 3,
        num_species: int = 2,
        num_targets: int = 1,
        num_node_features: int = 0,
        mul: int = 16,
        l_max: int = 2,
        hidden_irreps: str | None = None,
        n_layers: int = 5,
        n_basis: int = 8,
        radial_basis: str = "bessel",
        cutoff: float = 2.0,
        envelope_p: int = 6,
        radial_hidden: int = 32,
        radial_layers: int = 1,
        decoder_hidden: int = 32,
        avg_num_neighbors: float = 40.0,
        per_species_head: bool = True,
        layer_norm: bool = True,
        backend: str = "e3nn",
        compile: bool = False,
    ) -> None:
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"SE3GNN works on 2D or 3D data, got dim={dim}")
        if backend not in BACKENDS:
            raise ValueError(f"model.net.backend must be one of {BACKENDS}, got {backend!r}")
        if n_layers < 1:
            raise ValueError(f"model.net.n_layers must be >= 1, got {n_layers}")
        if num_node_features < 0:
            raise ValueError(f"num_node_features must be >= 0, got {num_node_features}")
        self.dim = dim
        self.num_species = num_species
        self.num_targets = num_targets
        self.num_node_features = num_node_features
        self.l_max = l_max
        self.cutoff = float(cutoff)
        self.per_species_head = per_species_head
        self.irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        self.spherical_harmonics = o3.SphericalHarmonics(
            self.irreps_sh, normalize=True, normalization="component"
        )
        self.irreps_hidden = (
            o3.Irreps(hidden_irreps).simplify() if hidden_irreps else default_irreps(mul, l_max)
        )
        if not self.irreps_hidden.sort().irreps == self.irreps_hidden:
            raise ValueError(f"model.net.hidden_irreps must be sorted, got {hidden_irreps}")
        if self.irreps_hidden[0].ir != o3.Irrep("0e"):
            raise ValueError("model.net.hidden_irreps needs scalar (0e) channels for the decoder")
        self.n_scalars = self.irreps_hidden[0].mul
        channels = num_species + num_node_features

        self.basis = RadialBasis(n_basis, cutoff, radial_basis, envelope_p)
        self.first = SpeciesConvolution(channels, l_max, n_basis, radial_hidden, radial_layers)
        self.first_norm_const = 1.0 / math.sqrt(avg_num_neighbors)
        block = {
            "irreps_sh": self.irreps_sh,
            "n_basis": n_basis,
            "radial_hidden": radial_hidden,
            "radial_layers": radial_layers,
            "avg_num_neighbors": avg_num_neighbors,
            "backend": backend,
        }
        # the first block mixes the species-resolved descriptors into the hidden irreps
        # (no convolution of its own: its message passing is SpeciesConvolution's)
        self.first_gate = GatedNonlinearity(self.irreps_hidden)
        self.first_mix = o3.Linear(self.first.irreps_out, self.first_gate.irreps_in)
        self.first_self = o3.Linear(o3.Irreps(f"{channels}x0e"), self.first_gate.irreps_in)
        self.layers = nn.ModuleList(
            [
                Interaction(self.irreps_hidden, self.irreps_hidden, **block)
                for _ in range(n_layers - 1)
            ]
        )
        norm = (lambda: EquivariantLayerNorm(self.irreps_hidden)) if layer_norm else nn.Identity
        self.norms = nn.ModuleList([norm() for _ in range(n_layers)])
        n_out = num_targets * (num_species if per_species_head else 1)
        self.decoder = nn.Sequential(
            nn.Linear(self.n_scalars, decoder_hidden), nn.SiLU(), nn.Linear(decoder_hidden, n_out)
        )
        self._compiled = torch.compile(self._forward, dynamic=True) if compile else None

    # ------------------------------------------------------------------ inputs

    def node_inputs(self, batch: Batch) -> torch.Tensor:
        """Scalar input channels [N, S + F]: species one-hot, then the extra features."""
        one_hot = F.one_hot(batch.species, self.num_species).to(batch.edge_attr.dtype)
        if self.num_node_features == 0:
            return one_hot
        feats = getattr(batch, "node_features", None)
        if feats is None:
            raise ValueError(
                f"model.net.num_node_features={self.num_node_features} but the batch has no "
                "node_features: set dataset.node_features"
            )
        if feats.shape != (one_hot.shape[0], self.num_node_features):
            raise ValueError(
                f"batch.node_features has shape {tuple(feats.shape)}, expected "
                f"[{one_hot.shape[0]}, {self.num_node_features}] (model.net.num_node_features)"
            )
        return torch.cat([one_hot, feats.to(one_hot.dtype)], dim=1)

    def edge_geometry(
        self, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Edges kept (0 < r < cutoff) as (src, dst, r_src - r_dst in 3D, r)."""
        d = self.dim
        attr = batch.edge_attr
        r = attr[:, d]
        keep = (r > 0) & (r < self.cutoff)
        src, dst = batch.edge_index
        if not bool(keep.all()):
            src, dst, attr, r = src[keep], dst[keep], attr[keep], r[keep]
        # edge_attr holds r_dst - r_src; the message to dst sees its neighbour at -that
        vec = -attr[:, :d]
        if d == 2:
            vec = F.pad(vec, (0, 1))
        return src, dst, vec, r

    # ------------------------------------------------------------------ network

    def _forward(
        self,
        x0: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        vec: torch.Tensor,
        r: torch.Tensor,
        species: torch.Tensor,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        sh = self.spherical_harmonics(vec)
        basis = self.basis(r)
        desc = self.first(x0, src, dst, sh, basis) * self.first_norm_const
        x = self.first_gate(self.first_mix(desc) + self.first_self(x0))
        features = [x]
        for norm, layer in zip(self.norms[:-1], self.layers, strict=True):
            x = x + layer(norm(x), src, dst, sh, basis)
            features.append(x)
        scalars = self.norms[-1](x)[:, : self.n_scalars]
        out = self.decoder(scalars)
        if self.per_species_head:
            out = out.reshape(-1, self.num_species, self.num_targets)
            out = out[torch.arange(out.shape[0], device=out.device), species]
        return out, features

    def _run(self, batch: Batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        src, dst, vec, r = self.edge_geometry(batch)
        args = (self.node_inputs(batch), src, dst, vec, r, batch.species)
        fn = self._compiled if self._compiled is not None else self._forward
        return fn(*args)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Predictions [num_nodes, num_targets]."""
        return self._run(batch)[0]

    def layer_features(self, batch: Batch) -> list[torch.Tensor]:
        """Equivariant node features (irreps `irreps_hidden`) after every convolution."""
        return self._run(batch)[1]

    def radial_profiles(self, r: torch.Tensor) -> torch.Tensor:
        """Learned first-layer radial weights w_{u,l}(r) [len(r), channels, l_max + 1].

        Channels are the species (then the extra node features): plotting w_{u,0}(r)
        shows which shells of species u the network counts, w_{u,l}(r) at which
        distances it measures l-fold bond order.
        """
        return self.first.radial_weights(self.basis(r))


def first_layer_descriptors(
    model: SE3GNN, batch: Batch, radial_fn: RadialFn | None = None
) -> dict[str, torch.Tensor]:
    """The first convolution of `model` read as expert descriptors.

    D_{u,lm}(i) = sum_{j in N(i)} x_u(j) w_{u,l}(r_ij) Y_lm(r_ij), over the neighbours with
    0 < r_ij < model.cutoff, with x_u the input channels (species one-hot, then any extra
    node features) and Y in the "norm" convention (|Y_l| = 1, Y_0 = 1). Returns

    * `density` [N, C]: the l = 0 channel, sum_j x_u(j) w_{u,0}(r_ij): for one-hot x and
      w a narrow shell around r, the species-resolved radial density (g_u(r) up to
      the shell volume); with w = 1, the number of neighbours of species u;
    * `bond_order` [N, C, l_max]: |D_{u,l}|, l = 1..l_max: with w = 1, N_i^u q_l^u, the
      Steinhardt q_l of the neighbours of species u times their number ("unnormalised":
      a neighbour sum instead of a neighbour average); dividing by `density` gives q_l;
    * `total_density` [N], `total_bond_order` [N, l_max]: the same over all species
      together (the sum of the species channels), e.g. N_i and N_i q_l(i) for w = 1;
    * `harmonics` [N, C, (l_max + 1)^2]: D_{u,lm} itself (e3nn's real basis, l-major);
    * `weights` [E, C, l_max + 1], `src`, `dst`: the radial weights on the edges used.

    `radial_fn(r)` ([E] -> [E, C, l_max + 1]) replaces the learned radial MLP, e.g. a
    unit step to recover the classic descriptors exactly; by default the trained weights
    are used, which says what the first layer of a trained network measures.
    """
    src, dst, vec, r = model.edge_geometry(batch)
    x0 = model.node_inputs(batch)
    sh = o3.spherical_harmonics(model.irreps_sh, vec, normalize=True, normalization="norm")
    if radial_fn is None:
        weights = model.first.radial_weights(model.basis(r))
    else:
        weights = radial_fn(r)
        expected = (r.shape[0], model.first.channels, model.l_max + 1)
        if tuple(weights.shape) != expected:
            raise ValueError(f"radial_fn must return shape {expected}, got {tuple(weights.shape)}")
    d = scatter_sum(model.first.messages(x0[src], weights, sh), dst, x0.shape[0])
    blocks = [
        d[:, model.first.irreps_out.slices()[ell]].reshape(x0.shape[0], -1, 2 * ell + 1)
        for ell in range(model.l_max + 1)
    ]
    species = slice(0, model.num_species)
    density = blocks[0][:, :, 0]
    bond_order = [b.norm(dim=2) for b in blocks[1:]]
    total = [b[:, species].sum(dim=1).norm(dim=1) for b in blocks[1:]]
    empty = density.new_zeros(density.shape[0], 0)
    return {
        "density": density,
        "bond_order": torch.stack(bond_order, dim=2) if bond_order else empty[:, None],
        "total_density": density[:, species].sum(dim=1),
        "total_bond_order": torch.stack(total, dim=1) if total else empty,
        "harmonics": torch.cat(blocks, dim=2),
        "weights": weights,
        "src": src,
        "dst": dst,
    }
