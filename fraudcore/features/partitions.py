"""Month partitions of a backfill, each with the lookback its longest window needs.

A partition computes the features of the target events in one calendar month. It reads each stream
from `start - lookback(stream)`, so the months are independent and a flow can fan them out (`foreach`).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

from fraudcore.features.featureset import FeatureSet

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class Partition:
    """Target events with start_ns <= t < end_ns; `reads[table]` is the earliest time read (None: all)."""

    label: str
    start_ns: int | None
    end_ns: int | None
    reads: Mapping[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", MappingProxyType(dict(self.reads)))


def month_bounds(month: str) -> tuple[int, int]:
    """'2025-03' -> [first instant, first instant of the next month) in ns since the epoch (UTC)."""
    if not isinstance(month, str) or not _MONTH.match(month):
        raise ValueError(f"month must be 'YYYY-MM'; got {month!r}")
    y, m = int(month[:4]), int(month[5:])
    start = dt.datetime(y, m, 1)
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1)
    return _ns(start), _ns(end)


def _ns(t: dt.datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def lookbacks(fs: FeatureSet) -> dict[str, int | None]:
    """How far before a partition's start each timed table must be read (None: from the beginning)."""
    out: dict[str, int | None] = {fs.target: 0}
    for f in fs.of_kind("aggregate"):
        for stream, span in [(f.stream, f.window_ns)] + (
                [(f.null_without.stream, f.null_without.window_ns)] if f.null_without else []):
            out[stream] = max(out.get(stream) or 0, span)
    for f in fs.of_kind("reference"):
        if f.table in out and out[f.table] is None:
            continue
        out[f.table] = None if f.max_age_ns is None else max(out.get(f.table) or 0, f.max_age_ns)
    return out


def plan_months(fs: FeatureSet, months: Sequence[str]) -> list[Partition]:
    """One partition per month, in order; each names what it reads from every timed table."""
    spans = lookbacks(fs)
    plan = []
    for month in sorted(set(months)):
        start, end = month_bounds(month)
        reads = {t: (None if span is None else start - span) for t, span in spans.items()}
        plan.append(Partition(month, start, end, reads))
    return plan


def whole_log(fs: FeatureSet) -> Partition:
    """All target events in one partition (the fastest plan when the log fits in memory)."""
    return Partition("all", None, None, {t: None for t in lookbacks(fs)})


def month_of_ns(ns: int) -> str:
    t = _EPOCH + dt.timedelta(microseconds=ns // 1000)
    return f"{t.year:04d}-{t.month:02d}"
