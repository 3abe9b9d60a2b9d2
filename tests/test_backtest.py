"""The weekly walk-forward replay: labels as known at each cutoff, weeks scored with final labels."""
import numpy as np
import pandas as pd
import pytest

from fraudcore.backtest import WalkForwardPlan, labels_known_by, walk_forward


def _frame(seed: int, days: int = 70, per_day: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * per_day
    start = pd.Timestamp("2026-01-05")
    t = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
    x = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(x * 2.0 - 4.5)))
    y = (rng.uniform(size=n) < p).astype(np.int8)
    known = pd.Series(t + pd.to_timedelta(rng.uniform(1, 20, n), unit="D")).where(y == 1)
    return pd.DataFrame({"event_time": t, "x": x, "is_fraud": y, "label_known_at": known, "fraud_probability": p})


def test_labels_count_only_once_known_and_never_at_the_cutoff_instant():
    cutoff = pd.Timestamp("2026-02-01")
    known = pd.Series([cutoff - pd.Timedelta(seconds=1), cutoff, cutoff + pd.Timedelta(days=1), pd.NaT])
    assert labels_known_by(np.array([1, 1, 1, 1]), known, cutoff).tolist() == [1, 0, 0, 0]
    assert labels_known_by(np.array([0, 1, 1, 1]), known, cutoff).tolist() == [0, 0, 0, 0]


def test_walk_forward_trains_on_known_labels_and_scores_each_week():
    frame = _frame(3)
    seen = []

    def fit(train, y_known):
        seen.append((train["event_time"].max(), int(y_known.sum()), int(train["is_fraud"].sum())))
        return lambda test: test["x"].to_numpy()  # a monotone transform of the oracle

    plan = WalkForwardPlan(weeks=4, train_days=28, end=pd.Timestamp("2026-03-16"))
    res = walk_forward(frame, fit, plan)
    assert [w.cutoff for w in res.weeks] == ["2026-02-16", "2026-02-23", "2026-03-02", "2026-03-09"]
    for (last_train, known, final), week in zip(seen, res.weeks):
        assert last_train < pd.Timestamp(week.cutoff)
        assert known < final           # recent fraud was not known yet at the cutoff
    # a monotone transform of the oracle ranks exactly as the oracle does
    for w in res.weeks:
        assert w.model_pr_auc == pytest.approx(w.oracle_pr_auc, abs=1e-12)
    assert res.pooled_ratio == pytest.approx(1.0, abs=1e-9)


def test_a_model_worse_than_the_oracle_shows_a_ratio_below_one():
    frame = _frame(4)
    rng = np.random.default_rng(0)
    plan = WalkForwardPlan(weeks=3, train_days=21, end=pd.Timestamp("2026-03-16"))
    res = walk_forward(frame, lambda tr, y: (lambda te: te["x"].to_numpy() + rng.normal(0, 2, len(te))), plan)
    assert res.pooled_ratio < 0.9
    assert 0 < res.median_weekly_ratio < 0.95
    assert set(res.to_dict()) >= {"weeks", "pooled_ratio", "median_weekly_ratio"}


def test_missing_columns_and_bad_plans_are_named():
    with pytest.raises(ValueError, match="label_known_at"):
        walk_forward(_frame(1).drop(columns="label_known_at"), lambda a, b: None,
                     WalkForwardPlan(1, 7, pd.Timestamp("2026-03-01")))
    with pytest.raises(ValueError, match="'weeks'"):
        WalkForwardPlan(0, 7, pd.Timestamp("2026-03-01"))


def test_weeks_without_fraud_are_skipped_and_named():
    frame = _frame(5)
    last = frame["event_time"] >= pd.Timestamp("2026-03-09")
    frame.loc[last, "is_fraud"] = 0
    plan = WalkForwardPlan(weeks=2, train_days=21, end=pd.Timestamp("2026-03-16"))
    res = walk_forward(frame, lambda tr, y: (lambda te: te["x"].to_numpy()), plan)
    assert [w.cutoff for w in res.weeks] == ["2026-03-02"]
    assert res.skipped == ("2026-03-09",)


def test_no_scorable_week_gives_an_empty_result_not_a_crash():
    frame = _frame(6)
    frame["is_fraud"] = 0
    res = walk_forward(frame, lambda tr, y: None, WalkForwardPlan(2, 21, pd.Timestamp("2026-03-16")))
    assert res.weeks == () and res.skipped == ("2026-03-02", "2026-03-09")
    assert np.isnan(res.pooled_ratio) and np.isnan(res.median_weekly_ratio)
