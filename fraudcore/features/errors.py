"""Errors of the feature layer; each names the config key or the file, column and row at fault."""
from __future__ import annotations

from fraudcore.errors import EXIT_USAGE, FraudError


class FeatureConfigError(FraudError, ValueError):
    """A declaration in events.toml or features.toml is invalid; the message starts with its key."""

    exit_code = EXIT_USAGE


class EventDataError(FraudError, ValueError):
    """Event data can't be used; the message names the file (or table), the column and the first row."""
