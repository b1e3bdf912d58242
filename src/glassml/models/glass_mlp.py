"""GlassMLP (Jung, Biroli, Berthier, PRL 130, 238202 (2023); GlassBench roadmap): an MLP
on coarse-grained expert descriptors with a 2-unit bottleneck.

One network per species and (per_time, the paper's setting) per time scale:
descriptors -> Dense(2, ELU) -> Dense(10, ELU) -> Dense(10, ELU) -> Dense(1), every layer
initialised as Keras' Dense in the authors' code (GerhardJung/StructDynGlass); with
per_time false, one network per species with one output per time scale. The narrow
bottleneck is the model's point: the prediction is a smooth function of two learned
structural order parameters, which can be read and plotted. The loss (glassml.training.
glass_mlp_loss) and the training phases (glassml.training.phases) live in training/.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch_geometric.data import Batch


def keras_dense(n_in: int, n_out: int) -> nn.Linear:
    """A linear layer initialised as Keras' Dense (the authors' code, GerhardJung/
    StructDynGlass, uses Keras' defaults): Glorot-uniform weights, zero biases."""
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def elu_mlp(n_in: int, sizes: Sequence[int]) -> nn.Sequential:
    """Keras-initialised linear layers with ELU after every one but the last."""
    layers: list[nn.Module] = []
    for k, n_out in enumerate(sizes):
        layers.append(keras_dense(n_in, n_out))
        if k < len(sizes) - 1:
            layers.append(nn.ELU())
        n_in = n_out
    return nn.Sequential(*layers)


def node_features(batch: Batch, expected: int, model: str) -> torch.Tensor:
    """`batch.node_features`, or an error saying how to configure the descriptors."""
    x = getattr(batch, "node_features", None)
    if expected <= 0 or x is None:
        raise ValueError(
            f"{model} needs expert descriptors: set dataset.node_features (e.g. features=glass_mlp)"
        )
    if x.shape[1] != expected:
        raise ValueError(f"{model} was built for {expected} descriptors, got {x.shape[1]}")
    return x


class GlassMLP(nn.Module):
    """Per-particle regression from `batch.node_features` [N, F], one MLP per species."""

    def __init__(
        self,
        dim: int = 3,
        num_species: int = 2,
        num_targets: int = 1,
        num_node_features: int = 0,
        bottleneck: int = 2,
        hidden: Sequence[int] = (10, 10),
        per_species: bool = True,
        per_time: bool = True,
    ) -> None:
        super().__init__()
        # built even without descriptors (config checks compose models with placeholder
        # data); forward then stops with the fix
        self.num_node_features = int(num_node_features)
        self.dim = dim
        self.per_species = per_species
        self.per_time = per_time
        self.num_targets = int(num_targets)
        n_out = 1 if per_time else num_targets
        sizes = [bottleneck, *hidden, n_out]
        n_nets = (num_species if per_species else 1) * (num_targets if per_time else 1)
        #: network of species s (and time t): nets[s * num_targets + t] (per_time)
        self.nets = nn.ModuleList([elu_mlp(num_node_features, sizes) for _ in range(n_nets)])

    def network_for(self, species: int, time: int) -> nn.Module:
        """The network that predicts `species` at time index `time`: the unit whose
        weights are selected on their own (glassml.training.phases); one network serves
        several (species, time) when per_species or per_time is false."""
        if not (0 <= time < self.num_targets) or species < 0:
            raise IndexError(f"no network for species {species}, time {time}")
        s = species if self.per_species else 0
        t = time if self.per_time else 0
        k = s * (self.num_targets if self.per_time else 1) + t
        if k >= len(self.nets):
            raise IndexError(f"no network for species {species}, time {time}")
        return self.nets[k]

    def _per_species(self, outs: list[torch.Tensor]) -> torch.Tensor:
        """Network outputs -> [N, species, ...] (time networks of a species side by side)."""
        if not self.per_time:
            return torch.stack(outs, dim=1)
        t = self.num_targets
        groups = [torch.cat(outs[k : k + t], dim=-1) for k in range(0, len(outs), t)]
        return torch.stack(groups, dim=1)

    def bottleneck(self, batch: Batch, time: int = 0) -> torch.Tensor:
        """The 2 learned order parameters of every particle, [N, bottleneck] (after ELU), of
        the network for time scale `time` (per_time; else the one shared network)."""
        x = node_features(batch, self.num_node_features, "GlassMLP")
        step = self.num_targets if self.per_time else 1
        first = time if self.per_time else 0
        outs = torch.stack([net[:2](x) for net in list(self.nets)[first::step]], dim=1)
        return self._pick(outs, batch)

    def _pick(self, outs: torch.Tensor, batch: Batch) -> torch.Tensor:
        if not self.per_species:
            return outs[:, 0]
        idx = batch.species.clamp(max=len(self.nets) - 1)
        return outs[torch.arange(outs.shape[0], device=outs.device), idx]

    def forward(self, batch: Batch) -> torch.Tensor:
        x = node_features(batch, self.num_node_features, "GlassMLP")
        outs = self._per_species([net(x) for net in self.nets])  # [N, S, T]
        return self._pick(outs, batch)
