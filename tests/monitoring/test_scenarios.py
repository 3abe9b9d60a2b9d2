"""The monitor's core promises on generated production windows, through capture files a server would write."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from fraudcore.monitoring.config import load_monitor_config
from fraudcore.monitoring.report import MonitorWindow, run_monitor
from monitor_helpers import capture_records, labels_for, window_for, write_capture

MERCHANT_FEED = ("merchant_risk_score", "merchant_chargeback_rate_90d")


def as_of(frame: pd.DataFrame, days_after: float) -> datetime:
    return (frame["event_time"].max() + pd.Timedelta(days=days_after)).floor("s").to_pydatetime()


def monitor(tmp_path, bundle, name: str, months_after: int = 0):
    frame = window_for(name, months_after)
    root = write_capture(tmp_path / name, capture_records(frame, bundle, seed=months_after))
    labels = labels_for(frame, seed=months_after)
    cfg = load_monitor_config()
    early = run_monitor(str(root), bundle, labels, cfg, MonitorWindow(as_of=as_of(frame, 3), days=0))
    late = run_monitor(str(root), bundle, labels, cfg, MonitorWindow(as_of=as_of(frame, 75), days=0))
    return frame, early, late


def names(report) -> set[tuple[str, str]]:
    return {(s.name, s.subject) for s in report.signals}


def test_feed_outage_raises_missing_rate_drift_on_the_merchant_feed(tmp_path, bundle):
    _, early, late = monitor(tmp_path, bundle, "feed_outage")
    for report in (early, late):
        assert report.verdict == "investigate"
        flagged = {subject for name, subject in names(report) if name == "missing_rate_shift"}
        assert flagged == set(MERCHANT_FEED)
        for f in report.drift.features:
            if f.name in MERCHANT_FEED:
                assert f.missing_shift > 0.15 and f.severity == "major"
    assert early.drift.features[0].name in MERCHANT_FEED  # the table is sorted by severity
    # an outage is fixed in the feed, not by retraining: quality on mature labels holds up
    assert late.quality.judged and not late.quality.signals


def test_new_pattern_loses_quality_only_once_labels_mature(tmp_path, bundle):
    _, early, late = monitor(tmp_path, bundle, "new_pattern")
    # three days in, hardly any chargeback has arrived: nothing is judged, nothing is claimed
    assert not early.quality.judged
    assert early.quality.windows and all(not w.judged for w in early.quality.windows)
    assert max(w.maturity for w in early.quality.windows) < 0.9
    assert early.verdict == "healthy"
    # 75 days on, the labels are mature and the lost frauds show
    assert late.quality.judged and late.quality.pooled.maturity >= 0.9
    assert ("pr_auc_drop", "quality") in names(late)
    assert late.quality.pooled.pr_auc < 0.75 * late.quality.reference.pr_auc
    assert late.verdict == "retrain"
    # inputs barely move: this is a quality signal, not a drift one
    assert not [s for s in late.signals if s.name in ("feature_psi", "missing_rate_shift", "score_psi")]


@pytest.mark.parametrize("months_after", [0, 3])
def test_in_distribution_raises_nothing(tmp_path, bundle, months_after):
    _, early, late = monitor(tmp_path, bundle, "in_distribution", months_after)
    assert early.signals == [] and late.signals == []
    assert early.verdict == late.verdict == "healthy"
    assert late.quality.judged  # judged, and found fine
    assert late.quality.pooled.pr_auc >= 0.75 * late.quality.reference.pr_auc


def test_seasonal_shift_does_not_alarm(tmp_path, bundle):
    frame, early, late = monitor(tmp_path, bundle, "seasonal")
    assert early.verdict == late.verdict == "healthy"
    amount = next(f for f in late.drift.features if f.name == "amount")
    assert amount.psi > 0.02  # the shift is there and measured, just below the alarm
    assert late.drift.score.alert_rate_ratio > 1.0  # bigger baskets, a few more alerts, within bounds


def test_false_alarm_rate_over_windows_is_low(tmp_path, bundle):
    """In-distribution months 1, 2, 4, 5 (0 and 3 above): at most one signal in all of them."""
    alarms = 0
    for k in (1, 2, 4, 5):
        _, early, late = monitor(tmp_path / str(k), bundle, "in_distribution", k)
        alarms += bool(early.signals) + bool(late.signals)
    assert alarms <= 1


def test_a_daily_run_judges_quality_on_older_mature_traffic(tmp_path, bundle):
    """Drift looks at the last day; quality reaches back `quality.lookback_days` to traffic whose labels matured."""
    old = window_for("new_pattern", months_after=0)
    recent = window_for("new_pattern", months_after=2)
    root = write_capture(tmp_path, capture_records(old, bundle) + capture_records(recent, bundle, seed=1))
    labels = pd.concat([labels_for(old), labels_for(recent, seed=1)], ignore_index=True)
    end = (recent["event_time"].max() + pd.Timedelta(seconds=1)).floor("s").to_pydatetime()
    report = run_monitor(str(root), bundle, labels, load_monitor_config(), MonitorWindow(as_of=end, days=1))
    assert 400 < report.drift.n < 1200  # one day of the recent month
    judged = [w for w in report.quality.windows if w.judged]
    assert judged and all(w.start < str(recent["event_time"].min()) for w in judged)  # only the old month
    assert not any(w.judged for w in report.quality.windows if w.start >= str(recent["event_time"].min()))
    assert report.verdict == "retrain" and ("pr_auc_drop", "quality") in names(report)
