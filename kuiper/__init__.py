"""kuiper: an edge stream-processing engine with eKuiper's SQL and rule model on a columnar core."""

__version__ = "0.1.0"
