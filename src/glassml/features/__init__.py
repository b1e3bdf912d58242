"""Expert structural descriptors per particle (GlassMLP inputs, ridge baselines, GNN extras).

Configured as a list of specs (`dataset.node_features`, conf/features/), validated at
config time (`parse_specs`), computed per configuration (`compute_descriptors`) and
cached per file (`file_descriptors`).
"""

from glassml.features.cache import file_descriptors
from glassml.features.registry import FAMILIES, MissingPositionsError, compute_descriptors
from glassml.features.spec import SPEC_CLASSES, BaseSpec, FeatureSpecError, parse_specs

__all__ = [
    "FAMILIES",
    "SPEC_CLASSES",
    "BaseSpec",
    "FeatureSpecError",
    "MissingPositionsError",
    "compute_descriptors",
    "file_descriptors",
    "parse_specs",
]
