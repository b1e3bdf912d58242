"""Training: the LightningModule, Pearson metrics and the `train` function."""

from glassml.training.metrics import PerConfigPearson, SpeciesPearson
from glassml.training.module import PropensityModule

__all__ = ["PerConfigPearson", "PropensityModule", "SpeciesPearson"]
