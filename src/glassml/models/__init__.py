"""Models: plain `nn.Module`s mapping a PyG batch to [num_nodes, num_targets]."""

from glassml.models.bapst import BapstGNN, count_parameters

__all__ = ["BapstGNN", "count_parameters"]
