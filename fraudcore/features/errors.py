"""Errors of the feature layer; each names the config key or the file, column and row at fault."""
from __future__ import annotations


class FeatureConfigError(ValueError):
    """A declaration in events.toml or features.toml is invalid; the message starts with its key."""


class EventDataError(ValueError):
    """Event data can't be used; the message names the file (or table), the column and the first row."""
