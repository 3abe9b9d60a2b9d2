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

from fraudcore.config import HOLDOUT_HINT, SplitConfig
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


def _file_holdout(cfg: SplitConfig, last: pd.Timestamp, holdout: tuple[Any, Any]) -> tuple[str, str]:
    """The [start, end) range of a separate test file: its first row to just after its last. Every row of the
    training data must come before it, so no training row is scored as holdout and no test row is trained on."""
    start, end = _ts(holdout[0]), _ts(holdout[1]) + pd.Timedelta(microseconds=1)
    if start <= last:
        raise SplitError(f"split.holdout: the test file {cfg.holdout_path!r} starts at {start}, not after the training "
                         f"data ends ({last}); a separate test set must come after every training row. Cut the "
                         "training data before the test period, or give the holdout as a period of the training "
                         "data (split.holdout = [start, end])")
    return _iso(start), _iso(end)


def plan_split(cfg: SplitConfig, first_time: Any, last_time: Any, holdout: tuple[Any, Any] | None = None) -> SplitPlan:
    """Turn the split config into time ranges for data spanning [first_time, last_time].

    `holdout` is the (first, last) event time of a separate test file (`split.holdout` = a path): the
    holdout is then that file's range, and train and validation are planned on the training data alone.
    """
    first, last = _ts(first_time), _ts(last_time)
    if cfg.holdout_path and holdout is None:
        raise SplitError(f"split.holdout names the test file {cfg.holdout_path!r}, but no holdout rows were given; "
                         "the file is read in TrainFlow's join_features step")
    cfg.check_holdout()
    file_range = None if holdout is None else _file_holdout(cfg, last, holdout)
    if cfg.mode == "dates":
        ranges = [(_iso(_ts(getattr(cfg, n)[0])), _iso(_ts(getattr(cfg, n)[1]))) for n in PARTS[:2]]
        return SplitPlan(*ranges, file_range or (_iso(_ts(cfg.holdout[0])), _iso(_ts(cfg.holdout[1]))))
    month0 = first.tz_convert(None).to_period("M")
    month_n = last.tz_convert(None).to_period("M")
    n_months = (month_n - month0).n + 1
    gap = pd.Timedelta(days=cfg.gap_days)
    if file_range is not None:
        if n_months < cfg.validation_months + 1:
            raise SplitError(f"split.mode 'months' needs at least {cfg.validation_months + 1} months of training data "
                             f"(validation_months {cfg.validation_months} + 1 for training) besides the test file "
                             f"{cfg.holdout_path!r}; the training data spans {n_months} months ({month0} to {month_n})")
        val_start = (month_n - cfg.validation_months + 1).to_timestamp().tz_localize("UTC")
        val_end = min((month_n + 1).to_timestamp().tz_localize("UTC"), _ts(file_range[0]) - gap)
        return SplitPlan(train=(_iso(first), _iso(val_start - gap)), validation=(_iso(val_start), _iso(val_end)),
                         holdout=file_range)
    need = cfg.validation_months + cfg.holdout_months + 1
    if n_months < need:
        raise SplitError(f"split.mode 'months' needs at least {need} months of data (validation_months "
                         f"{cfg.validation_months} + holdout_months {cfg.holdout_months} + 1 for training); "
                         f"the data spans {n_months} months ({month0} to {month_n}){HOLDOUT_HINT}")
    holdout_start = (month_n - cfg.holdout_months + 1).to_timestamp().tz_localize("UTC")
    val_start = (month_n - cfg.holdout_months - cfg.validation_months + 1).to_timestamp().tz_localize("UTC")
    end = (month_n + 1).to_timestamp().tz_localize("UTC")
    return SplitPlan(train=(_iso(first), _iso(val_start - gap)), validation=(_iso(val_start), _iso(holdout_start - gap)),
                     holdout=(_iso(holdout_start), _iso(end)))


def check_counts(plan: SplitPlan, counts: dict[str, dict[str, int]]) -> None:
    """Each part needs rows of both classes; say which part, its range and what it holds (and, for the
    holdout, how to evaluate on a separate test file instead)."""
    for name in PARTS:
        c = counts.get(name, {"rows": 0, "positives": 0})
        rows, pos = int(c["rows"]), int(c["positives"])
        if rows == 0 or pos == 0 or pos == rows:
            start, end = getattr(plan, name)
            raise SplitError(f"split part '{name}' [{start}, {end}) must hold rows of both classes; got {rows} rows "
                             f"with {pos} positive labels. Adjust [split] in the config"
                             + (HOLDOUT_HINT if name == "holdout" else ""))


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
