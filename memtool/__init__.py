"""memtool: layer-wise memorability and brain-similarity studies of vision networks."""

__version__ = "0.1.0"
