"""Version of the reflow-executor-flux distribution (one version file per package)."""

__version__ = "0.1.0"
