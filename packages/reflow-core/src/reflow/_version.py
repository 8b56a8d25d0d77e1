"""Version of the reflow-core distribution (one version file per package)."""

__version__ = "0.1.0"
