"""Holiday calendars a derived feature may name; days are counted from the epoch (UTC)."""
from __future__ import annotations

import datetime as dt

from fraudcore.features.errors import FeatureConfigError
from fraudcore.synth.calendar import holidays as us_retail_holidays

_EPOCH = dt.date(1970, 1, 1)


def holiday_days(calendar: str, first_year: int, last_year: int) -> list[int]:
    """Epoch day numbers of the calendar's holidays in [first_year, last_year]."""
    if calendar != "us_retail":
        raise FeatureConfigError(f"calendar: unknown calendar {calendar!r}; known: ['us_retail']")
    days = us_retail_holidays(range(first_year, last_year + 1))
    return sorted((d - _EPOCH).days for d in days)
