"""glassml: machine learning on glassy dynamics."""

__version__ = "0.1.0"
