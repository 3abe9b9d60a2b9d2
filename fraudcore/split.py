"""The out-of-time split: train, validation and holdout as [start, end) time ranges.

Fraud models are used on the future, so they are judged on it: the holdout is the most recent
period and is never used for any choice. Ranges may leave gaps between them (labels mature late, so
a delay before the holdout is normal practice); rows in a gap belong to no part.

A split is stored as its definition (three time ranges), not as row indices, so it is small enough
to be a Metaflow artifact and applies the same way to every file and chunk of a 42M-row dataset.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.config import SplitConfig
from fraudcore.errors import FraudError

PARTS = ("train", "validation", "holdout")
OUTSIDE = -1  # part code of a row in a gap or outside every range


class SplitError(FraudError, ValueError):
    """The split cannot be made on this data; the message names the part, its range and the count."""


def _ts(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


@dataclass(frozen=True)
class SplitPlan:
    """Three [start, end) UTC ranges in time order, possibly with gaps between them."""

    train: tuple[str, str]
    validation: tuple[str, str]
    holdout: tuple[str, str]

    def __post_init__(self) -> None:
        prev_end = None
        for name in PARTS:
            start, end = (_ts(x) for x in getattr(self, name))
            if not start < end:
                raise SplitError(f"split part '{name}' must have start < end; got [{start}, {end})")
            if prev_end is not None and start < prev_end:
                raise SplitError(f"split part '{name}' starts at {start}, before the previous part ends at "
                                 f"{prev_end}; parts must not overlap")
            prev_end = end

    def bounds(self, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        start, end = getattr(self, name)
        return _ts(start), _ts(end)

    def assign(self, times: Any) -> np.ndarray:
        """Part code per row (0 train, 1 validation, 2 holdout, -1 none) from event times."""
        t = pd.to_datetime(pd.Series(times), utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        codes = np.full(len(t), OUTSIDE, dtype=np.int8)
        for code, name in enumerate(PARTS):
            start, end = (np.datetime64(b.tz_convert(None), "ns") for b in self.bounds(name))
            codes[(t >= start) & (t < end)] = code
        return codes

    def to_dict(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in PARTS}

    @classmethod
    def from_dict(cls, data: dict[str, Sequence[str]]) -> SplitPlan:
        return cls(**{name: (str(data[name][0]), str(data[name][1])) for name in PARTS})

    def describe(self) -> str:
        return "; ".join(f"{n} [{getattr(self, n)[0]}, {getattr(self, n)[1]})" for n in PARTS)


def _iso(t: pd.Timestamp) -> str:
    return t.isoformat()


def plan_split(cfg: SplitConfig, first_time: Any, last_time: Any) -> SplitPlan:
    """Turn the split config into time ranges for data spanning [first_time, last_time]."""
    first, last = _ts(first_time), _ts(last_time)
    if cfg.mode == "dates":
        return SplitPlan(*((_iso(_ts(getattr(cfg, n)[0])), _iso(_ts(getattr(cfg, n)[1]))) for n in PARTS))
    month0 = first.tz_convert(None).to_period("M")
    month_n = last.tz_convert(None).to_period("M")
    n_months = (month_n - month0).n + 1
    need = cfg.validation_months + cfg.holdout_months + 1
    if n_months < need:
        raise SplitError(f"split.mode 'months' needs at least {need} months of data (validation_months "
                         f"{cfg.validation_months} + holdout_months {cfg.holdout_months} + 1 for training); "
                         f"the data spans {n_months} months ({month0} to {month_n})")
    holdout_start = (month_n - cfg.holdout_months + 1).to_timestamp().tz_localize("UTC")
    val_start = (month_n - cfg.holdout_months - cfg.validation_months + 1).to_timestamp().tz_localize("UTC")
    end = (month_n + 1).to_timestamp().tz_localize("UTC")
    gap = pd.Timedelta(days=cfg.gap_days)
    return SplitPlan(train=(_iso(first), _iso(val_start - gap)), validation=(_iso(val_start), _iso(holdout_start - gap)),
                     holdout=(_iso(holdout_start), _iso(end)))


def check_counts(plan: SplitPlan, counts: dict[str, dict[str, int]]) -> None:
    """Each part needs rows of both classes; say which part, its range and what it holds."""
    for name in PARTS:
        c = counts.get(name, {"rows": 0, "positives": 0})
        rows, pos = int(c["rows"]), int(c["positives"])
        if rows == 0 or pos == 0 or pos == rows:
            start, end = getattr(plan, name)
            raise SplitError(f"split part '{name}' [{start}, {end}) must hold rows of both classes; got {rows} rows "
                             f"with {pos} positive labels. Adjust [split] in the config")


def count_parts(plan: SplitPlan, times: Any, labels: Any) -> dict[str, dict[str, int]]:
    """Rows and positives per part (and rows dropped in gaps) for one frame or chunk."""
    codes = plan.assign(times)
    y = np.asarray(labels)
    out = {name: {"rows": int((codes == i).sum()), "positives": int(((codes == i) & (y == 1)).sum())}
           for i, name in enumerate(PARTS)}
    out["outside"] = {"rows": int((codes == OUTSIDE).sum()), "positives": int(((codes == OUTSIDE) & (y == 1)).sum())}
    return out


def add_counts(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    keys = set(a) | set(b)
    return {k: {m: a.get(k, {}).get(m, 0) + b.get(k, {}).get(m, 0) for m in ("rows", "positives")} for k in keys}
