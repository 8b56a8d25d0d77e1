"""Version of the reflow-executor-pbs distribution (one version file per package)."""

__version__ = "0.1.0"
