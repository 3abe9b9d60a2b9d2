"""Time of the event-level data: whole seconds from the first lead-in month's start (a UTC midnight).

Integer seconds make ties and window edges exact: the generator, the engine and the tests agree on
whether an event falls inside a window without any floating-point tolerance.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from fraudcore.synth.calendar import HOLIDAY_BOOST, HOUR_PROFILE, WEEKDAY_PROFILE, holidays, month_starts, \
    rows_per_month
from fraudcore.synth.events.spec import EventSpec

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True)
class Clock:
    origin: dt.date                 # start of the first lead-in month
    starts: tuple[dt.date, ...]     # month starts, lead-in included, plus the end of the data
    lead_in: int                    # number of lead-in months at the front
    holiday_days: frozenset[dt.date]

    @property
    def n_months(self) -> int:
        return len(self.starts) - 1

    def seconds(self, day: dt.date) -> int:
        return (day - self.origin).days * DAY

    def window(self, k: int) -> tuple[int, int]:
        """[start, end) in seconds of month k (0 = first lead-in month)."""
        return self.seconds(self.starts[k]), self.seconds(self.starts[k + 1])

    def label(self, k: int) -> str:
        return self.starts[k].strftime("%Y-%m")

    @property
    def end(self) -> int:
        return self.seconds(self.starts[-1])

    def hour_weights(self, k: int) -> np.ndarray:
        """Relative volume of each hour of month k: weekday, holiday and hour-of-day profiles."""
        days = (self.starts[k + 1] - self.starts[k]).days
        dates = [self.starts[k] + dt.timedelta(days=i) for i in range(days)]
        day_w = np.array([WEEKDAY_PROFILE[d.weekday()] * (HOLIDAY_BOOST if d in self.holiday_days else 1.0)
                          for d in dates])
        return (day_w[:, None] * HOUR_PROFILE[None, :]).ravel()


def make_clock(spec: EventSpec) -> Clock:
    first = dt.date.fromisoformat(spec.start).replace(day=1)
    y, m = divmod(first.month - 1 - spec.lead_in_months, 12)
    origin = dt.date(first.year + y, m + 1, 1)
    starts = tuple(month_starts(origin.isoformat(), spec.lead_in_months + spec.months))
    hol = holidays(range(starts[0].year, starts[-1].year + 1))
    return Clock(origin, starts, spec.lead_in_months, frozenset(hol))


def authorisations_per_month(rows: int, clock: Clock) -> np.ndarray:
    """`rows` split over the dataset's months (as the frame-level generator does); lead-in months get the
    first month's daily volume."""
    body = rows_per_month(rows, list(clock.starts[clock.lead_in:]))
    first_daily = body[0] / (clock.starts[clock.lead_in + 1] - clock.starts[clock.lead_in]).days
    lead = [int(round(first_daily * (clock.starts[k + 1] - clock.starts[k]).days)) for k in range(clock.lead_in)]
    return np.concatenate([np.array(lead, dtype=np.int64), body])


def sample_times(rng: np.random.Generator, clock: Clock, k: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One time per row in [lo, hi) (seconds, inside month k), following the month's volume profile."""
    s0, s1 = clock.window(k)
    w = clock.hour_weights(k)
    grid_s = s0 + HOUR * np.arange(len(w) + 1, dtype=np.float64)
    grid_w = np.concatenate([[0.0], np.cumsum(w)])
    lo = np.clip(lo, s0, s1).astype(np.float64)
    hi = np.clip(hi, s0, s1).astype(np.float64)
    wl, wh = np.interp(lo, grid_s, grid_w), np.interp(hi, grid_s, grid_w)
    u = wl + rng.random(len(lo)) * (wh - wl)
    t = np.floor(np.interp(u, grid_w, grid_s)).astype(np.int64)
    return np.clip(t, np.maximum(lo.astype(np.int64), 1), np.maximum(hi.astype(np.int64) - 1, 1))
