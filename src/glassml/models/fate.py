"""Classifiers of domain fate (extracted or dissolved) in the molecular-sorting lattice gas.

Both return one logit per domain from a `glassml.sorting.fate_data.FateBatch`:

* `FateMLP`: an MLP on the tabular features (size, perimeter, local densities, ...);
  the default widths follow GlassMLP's bottleneck layout (2 -> 10 -> 10, ELU);
* `FateGNN`: a GIN on the occupied sites around the domain (node features: in this
  domain / in another domain / free molecule), pooled over the graph and concatenated
  with the tabular features before the output MLP, so it can use the environment
  beyond what the hand-made features summarise.

Layers come from PyG (`MLP`, `GIN`, pooling) rather than being written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch_geometric.nn import MLP, global_add_pool, global_mean_pool
from torch_geometric.nn.models import GIN


class FateMLP(nn.Module):
    """Logit of extraction from the tabular features alone."""

    def __init__(
        self,
        num_features: int,
        hidden: Sequence[int] = (2, 10, 10),
        act: str = "elu",
        dropout: float = 0.0,
        **_: Any,
    ) -> None:
        super().__init__()
        self.mlp = MLP([num_features, *hidden, 1], act=act, norm=None, dropout=dropout)

    def forward(self, batch: Any) -> torch.Tensor:
        return self.mlp(batch.u).squeeze(-1)


class FateGNN(nn.Module):
    """Logit of extraction from the domain's neighbourhood graph plus the tabular features."""

    def __init__(
        self,
        num_features: int,
        num_node_features: int,
        hidden: int = 32,
        num_layers: int = 3,
        head: Sequence[int] = (32,),
        act: str = "elu",
        **_: Any,
    ) -> None:
        super().__init__()
        self.gnn = GIN(num_node_features, hidden, num_layers, act=act)
        self.head = MLP([2 * hidden + num_features, *head, 1], act=act, norm=None)

    def forward(self, batch: Any) -> torch.Tensor:
        g = batch.graph
        if g is None:
            raise ValueError("FateGNN needs graphs: set dataset.graph=true")
        h = self.gnn(g.x, g.edge_index)
        n = batch.num_graphs
        pooled = torch.cat([global_add_pool(h, g.batch, n), global_mean_pool(h, g.batch, n)], dim=1)
        return self.head(torch.cat([pooled, batch.u], dim=1)).squeeze(-1)
