"""Out-of-time split: by month count or explicit date ranges, gaps dropped, holdout last."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcore.config import SplitConfig
from fraudcore.split import OUTSIDE, SplitError, SplitPlan, check_counts, count_parts, plan_split


def _times(start: str, end: str, n: int) -> pd.Series:
    return pd.Series(pd.date_range(start, end, periods=n, tz="UTC"))


def test_months_mode_puts_the_last_months_in_the_holdout(small_frame, schema) -> None:
    t = small_frame[schema.time]
    plan = plan_split(SplitConfig(validation_months=3, holdout_months=3), t.min(), t.max())
    codes = plan.assign(t)
    months = t.dt.strftime("%Y-%m").to_numpy()
    last = sorted(set(months))
    assert set(months[codes == 2]) == set(last[-3:])
    assert set(months[codes == 1]) == set(last[-6:-3])
    assert set(months[codes == 0]) == set(last[:-6])
    assert (codes != OUTSIDE).all()
    # time order: every train row precedes every validation row, which precedes every holdout row
    assert t[codes == 0].max() < t[codes == 1].min() and t[codes == 1].max() < t[codes == 2].min()


def test_gap_days_drops_rows_before_validation_and_holdout() -> None:
    t = _times("2025-01-01", "2025-12-31 23:00", 24 * 365)
    plan = plan_split(SplitConfig(validation_months=2, holdout_months=2, gap_days=10), t.min(), t.max())
    codes = plan.assign(t)
    dropped = t[codes == OUTSIDE]
    assert len(dropped) == 24 * 20  # 10 days before each of two starts, hourly rows
    assert dropped.min() >= pd.Timestamp("2025-08-22", tz="UTC")
    assert t[codes == 2].min() == pd.Timestamp("2025-11-01", tz="UTC")


def test_dates_mode_uses_explicit_ranges_with_gaps() -> None:
    cfg = SplitConfig(mode="dates", train=("2025-01-01", "2025-07-01"), validation=("2025-07-15", "2025-10-01"),
                      holdout=("2025-11-01", "2026-01-01"))
    t = _times("2024-12-01", "2026-01-31", 1000)
    plan = plan_split(cfg, t.min(), t.max())
    codes = plan.assign(t)
    assert (t[codes == 0] < pd.Timestamp("2025-07-01", tz="UTC")).all()
    assert (t[codes == 1] >= pd.Timestamp("2025-07-15", tz="UTC")).all()
    # the October gap and the months outside every range belong to no part
    oct_ = (t >= pd.Timestamp("2025-10-01", tz="UTC")) & (t < pd.Timestamp("2025-11-01", tz="UTC"))
    assert (codes[oct_.to_numpy()] == OUTSIDE).all()
    assert (codes[(t < pd.Timestamp("2025-01-01", tz="UTC")).to_numpy()] == OUTSIDE).all()


def test_naive_times_are_read_as_utc() -> None:
    plan = SplitPlan(("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01"), ("2025-03-01", "2025-04-01"))
    naive = pd.Series(pd.to_datetime(["2025-01-31 23:59", "2025-02-01 00:00", "2025-03-15 00:00"]))
    assert plan.assign(naive).tolist() == [0, 1, 2]


def test_plan_round_trips_as_a_small_artifact() -> None:
    plan = plan_split(SplitConfig(), "2025-01-03T10:00:00Z", "2026-06-30T00:00:00Z")
    assert SplitPlan.from_dict(plan.to_dict()) == plan


def test_overlapping_ranges_are_refused() -> None:
    with pytest.raises(SplitError, match="part 'validation' starts at .* before the previous part ends"):
        SplitPlan(("2025-01-01", "2025-03-01"), ("2025-02-01", "2025-04-01"), ("2025-04-01", "2025-05-01"))


def test_too_few_months_names_what_is_needed() -> None:
    with pytest.raises(SplitError, match="needs at least 7 months of data .* spans 5 months"):
        plan_split(SplitConfig(validation_months=3, holdout_months=3), "2025-01-01", "2025-05-20")


def test_a_part_without_both_classes_is_refused() -> None:
    plan = SplitPlan(("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01"), ("2025-03-01", "2025-04-01"))
    t = pd.Series(pd.to_datetime(["2025-01-05", "2025-01-06", "2025-02-05", "2025-02-06", "2025-03-05"], utc=True))
    y = np.array([0, 1, 0, 1, 0])
    counts = count_parts(plan, t, y)
    assert counts["holdout"] == {"rows": 1, "positives": 0}
    with pytest.raises(SplitError, match=r"split part 'holdout' \[2025-03-01, 2025-04-01\) must hold rows of both "
                                         r"classes; got 1 rows with 0 positive labels"):
        check_counts(plan, counts)
