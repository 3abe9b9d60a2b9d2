"""Calendar of the synthetic period: month boundaries, holidays, daily and weekly cycles."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Relative volume by hour of day (UTC) and by weekday (Monday = 0).
HOUR_PROFILE = np.array([0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.55, 0.80, 0.95, 1.05, 1.15,
                         1.25, 1.20, 1.10, 1.05, 1.05, 1.10, 1.20, 1.25, 1.15, 0.95, 0.70, 0.45])
WEEKDAY_PROFILE = np.array([0.95, 0.96, 0.98, 1.02, 1.12, 1.18, 0.99])
HOLIDAY_BOOST = 1.3
SEASONAL_MONTH_FACTOR = {11: 1.15, 12: 1.25, 1: 0.92}  # calendar month -> volume factor


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    if n > 0:
        return first + dt.timedelta(days=offset + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def holidays(years: range) -> set[dt.date]:
    """US-style retail holidays: fixed dates, Monday holidays, Thanksgiving weekend."""
    out: set[dt.date] = set()
    for y in years:
        out |= {dt.date(y, 1, 1), dt.date(y, 7, 4), dt.date(y, 12, 24), dt.date(y, 12, 25), dt.date(y, 12, 31)}
        out.add(_nth_weekday(y, 1, 0, 3))     # MLK day
        out.add(_nth_weekday(y, 5, 0, -1))    # Memorial day
        out.add(_nth_weekday(y, 9, 0, 1))     # Labor day
        thanksgiving = _nth_weekday(y, 11, 3, 4)
        out |= {thanksgiving, thanksgiving + dt.timedelta(days=1), thanksgiving + dt.timedelta(days=4)}
    return out


def month_starts(start: str, months: int) -> list[dt.date]:
    """First day of each month, plus the first day after the period."""
    d0 = dt.date.fromisoformat(start).replace(day=1)
    out = []
    for i in range(months + 1):
        y, m = divmod(d0.month - 1 + i, 12)
        out.append(dt.date(d0.year + y, m + 1, 1))
    return out


def rows_per_month(rows: int, starts: list[dt.date]) -> np.ndarray:
    """Split `rows` over months by days, slow growth and holiday season, summing exactly to `rows`."""
    n = len(starts) - 1
    w = np.array([(starts[i + 1] - starts[i]).days * (1 + 0.015 * i)
                  * SEASONAL_MONTH_FACTOR.get(starts[i].month, 1.0) for i in range(n)])
    exact = rows * w / w.sum()
    counts = np.floor(exact).astype(np.int64)
    rest = rows - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return counts


@dataclass(frozen=True)
class MonthSpan:
    """One month of the synthetic period: its index, its days [start, end), the period's first day (time
    zero of the data) and the holidays that shape its daily volume."""

    index: int
    start: dt.date
    end: dt.date
    period_start: dt.date
    holiday_days: frozenset[dt.date]

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError(f"month 'index' must be >= 0; got {self.index}")
        if not self.period_start <= self.start < self.end:
            raise ValueError(f"month span must satisfy period_start <= start < end; got period_start="
                             f"{self.period_start}, start={self.start}, end={self.end}")

    @classmethod
    def of(cls, starts: Sequence[dt.date], index: int, holiday_days: frozenset[dt.date]) -> MonthSpan:
        """Month `index` of the period whose month starts (plus the end) are `starts`."""
        return cls(index, starts[index], starts[index + 1], starts[0], holiday_days)
