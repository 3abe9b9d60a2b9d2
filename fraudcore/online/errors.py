"""Errors of the online path."""
from __future__ import annotations

from fraudcore.errors import EXIT_USAGE, FraudError


class OnlineConfigError(FraudError):
    """A bad online-store or ingest setting; names the setting, the rule and the value."""

    exit_code = EXIT_USAGE
