"""Feature definitions (config/features.toml) as typed frozen declarations, one per schema feature.

Each feature names its source kind. The classes hold structure only (column names, windows, ops),
never SQL, so the offline engine, the brute-force reference and an online store can all read them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

REQUEST_KINDS = ("request", "vendor")
FUNCTIONS = ("hour_of_day", "day_of_week", "is_holiday", "days_since", "differs", "lookup")
CALENDARS = ("us_retail",)
OPS = ("count", "sum", "mean", "std", "distinct_count", "last_seen", "min", "max", "exists", "first_time")
VALUE_OPS = ("sum", "mean", "std", "distinct_count", "min", "max")   # ops that read `column`
NULL_WHEN_EMPTY = ("mean", "std", "min", "max", "last_seen")        # an empty window has no value


@dataclass(frozen=True)
class ColumnRef:
    """`table.column`: a column of the target stream or of an entity reached from it."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class Equals:
    """Keep an event only if `column` equals `value`."""

    column: str
    value: bool | int | float | str


@dataclass(frozen=True)
class RequestFeature:
    """A field of the target event itself (kind 'request' or 'vendor')."""

    name: str
    kind: str
    column: str


@dataclass(frozen=True)
class DerivedFeature:
    name: str
    function: str
    inputs: tuple[ColumnRef, ...] = ()
    calendar: str | None = None
    kind: str = "derived"


@dataclass(frozen=True)
class ReferenceFeature:
    """The value in snapshot `table` of the latest snapshot strictly before the event."""

    name: str
    table: str
    column: str
    max_age_ns: int | None = None
    default: float | None = None
    kind: str = "reference"


@dataclass(frozen=True)
class History:
    """`null_without`: the feature is missing when the key has no `stream` event in `window_ns`."""

    stream: str
    window_ns: int


@dataclass(frozen=True)
class AggregateFeature:
    """op over the events of `stream` sharing the target's `key`, with  t - window <= e < t - lag."""

    name: str
    stream: str
    key: tuple[str, ...]
    op: str
    window_ns: int
    lag_ns: int = 0
    column: str | None = None
    filters: tuple[Equals, ...] = ()
    null_without: History | None = None
    default: float | None = None
    kind: str = "aggregate"


Feature = Union[RequestFeature, DerivedFeature, ReferenceFeature, AggregateFeature]
