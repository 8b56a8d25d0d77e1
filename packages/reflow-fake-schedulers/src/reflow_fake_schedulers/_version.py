"""Version of the reflow-fake-schedulers distribution (one version file per package)."""

__version__ = "0.1.0"
