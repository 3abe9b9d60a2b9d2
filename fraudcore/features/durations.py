"""Durations in declarations ("90d", "1h") as integer nanoseconds, the engine's unit of time."""
from __future__ import annotations

import re

from fraudcore.features.errors import FeatureConfigError

NS_PER_UNIT = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
NS_PER_DAY = NS_PER_UNIT["d"]
_PATTERN = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: object, key: str) -> int:
    """'24h' -> nanoseconds; `key` names the declaration in the error."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise FeatureConfigError(f"{key}: must be a duration like '30s', '15m', '24h' or '90d'; got {text!r}")
    return int(match.group(1)) * NS_PER_UNIT[match.group(2)]


def format_duration(ns: int) -> str:
    """Nanoseconds -> the largest whole unit ('90d'), for messages and docs."""
    for unit in ("d", "h", "m", "s"):
        if ns % NS_PER_UNIT[unit] == 0:
            return f"{ns // NS_PER_UNIT[unit]}{unit}"
    return f"{ns}ns"
