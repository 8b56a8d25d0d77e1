"""Version of the reflow-store-sqlite distribution (one version file per package)."""

__version__ = "0.1.0"
