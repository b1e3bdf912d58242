"""Datasets: file readers, periodic neighbour graphs, augmentations and the data module."""

from glassml.data.datamodule import DataInfo, DatasetNotFoundError, GlassDataModule
from glassml.data.graph import local_density, periodic_edges
from glassml.data.io import BapstReader, Configuration, DatasetError, NpzReader
from glassml.data.transforms import CubicSymmetry, RandomRotation

__all__ = [
    "BapstReader",
    "Configuration",
    "CubicSymmetry",
    "DataInfo",
    "DatasetError",
    "DatasetNotFoundError",
    "GlassDataModule",
    "NpzReader",
    "RandomRotation",
    "local_density",
    "periodic_edges",
]
