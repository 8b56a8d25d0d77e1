"""Version of the reflow-executor-sge distribution (one version file per package)."""

__version__ = "0.1.0"
