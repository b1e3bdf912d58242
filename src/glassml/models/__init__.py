"""Models: plain `nn.Module`s mapping a PyG batch to [num_nodes, num_targets]."""

from glassml.models.bapst import BapstGNN, count_parameters
from glassml.models.se3 import SE3GNN, first_layer_descriptors

__all__ = ["BapstGNN", "SE3GNN", "count_parameters", "first_layer_descriptors"]
