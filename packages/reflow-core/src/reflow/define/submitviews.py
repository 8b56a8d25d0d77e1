"""Read-only views of common submit options, shared by job configurations and resources.

Code written for the published reflow-hpc reads ``resources.partition`` or
``config.account`` instead of looking in the submit options; these properties
give it the same answers from reflow's submit options, in any spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SubmitOptionViews"]


class SubmitOptionViews:
    """Mixin: ``partition``, ``account``, ``mail_user``, ``mail_type``, ``signal`` and ``extra``.

    The class it is mixed into provides :attr:`submit_options`; each view is
    ``None`` when the option is not set.
    """

    submit_options: Any  # a property or attribute of the class this is mixed into

    def _option(self, *names: str) -> Any:
        options: Mapping[str, Any] = self.submit_options
        for key, value in options.items():
            # Users write "Mail-User", "mail_user", "queue" or "partition": compare normalised.
            if key.strip().lower().replace("-", "_") in names:
                return value
        return None

    @property
    def partition(self) -> Any:
        """The ``partition`` (or ``queue``) submit option, or ``None``."""
        return self._option("partition", "queue")

    @property
    def account(self) -> Any:
        """The ``account`` submit option, or ``None``."""
        return self._option("account")

    @property
    def mail_user(self) -> Any:
        """The ``mail_user`` submit option, or ``None``."""
        return self._option("mail_user")

    @property
    def mail_type(self) -> Any:
        """The ``mail_type`` submit option, or ``None``."""
        return self._option("mail_type")

    @property
    def signal(self) -> Any:
        """The ``signal`` submit option, or ``None``."""
        return self._option("signal")

    @property
    def extra(self) -> dict[str, Any]:
        """Older name of the submit options."""
        return dict(self.submit_options)
