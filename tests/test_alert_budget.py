"""The alert-budget rule (issue 16): a review threshold chosen by analyst capacity, at most N alerts a day
on validation, reported beside the precision rule; the gate can judge either."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcore.alert_budget import budget_threshold, daily_alerts, rule_table, with_alert_budget
from fraudcore.config import GateConfig, TrainConfig
from fraudcore.config_loader import ConfigError
from fraudcore.gate import gate_by_config
from fraudcore.thresholds import Thresholds, choose_thresholds


@pytest.fixture(scope="module")
def validation():
    rng = np.random.default_rng(5)
    n = 20 * 200  # 20 days, 200 rows a day
    times = pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(np.arange(n) * (86400 / 200), unit="s")
    y = (rng.random(n) < 0.03).astype(int)
    s = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0.0, 1.0)
    return y, s, times


@pytest.mark.parametrize("per_day", [1, 4.5, 10, 60])
def test_the_budget_threshold_keeps_alerts_within_n_a_day_and_is_the_lowest_such(validation, per_day) -> None:
    y, s, times = validation
    t = budget_threshold(s, times, per_day)
    assert daily_alerts(s, times, t)["alerts_per_day"] <= per_day
    lower = np.max(s[s < t])  # the next threshold down alerts more than the budget
    assert daily_alerts(s, times, lower)["alerts_per_day"] > per_day


def test_both_rules_are_reported_and_review_follows_the_configured_one(validation) -> None:
    y, s, times = validation
    precision_rule = choose_thresholds(y, s, 0.2, 0.6)
    kept = with_alert_budget(precision_rule, y, s, times, 3, "precision")
    assert kept.review == precision_rule.review and kept.budget_review == budget_threshold(s, times, 3)
    budget = with_alert_budget(precision_rule, y, s, times, 3, "alert_budget")
    assert budget.review == kept.budget_review and budget.precision_review == precision_rule.review
    assert budget.decline >= budget.review
    assert Thresholds.from_dict(budget.to_dict()) == budget  # the bundle's thresholds.json round-trips
    table = rule_table(y, s, times, budget)
    assert set(table) == {"precision", "alert_budget"}
    assert table["alert_budget"]["alerts_per_day"] <= 3 and table["alert_budget"]["budget"] == 3
    assert table["precision"]["threshold"] == precision_rule.review
    assert rule_table(y, s, times, precision_rule) == {}  # no budget configured: nothing extra


def test_the_gate_judges_the_configured_rule() -> None:
    holdout = {"pr_auc": 0.5, "recall_at_precision": 0.1, "precision_floor": 0.2}
    budget = {"threshold": 0.61, "recall": 0.55, "precision": 0.3, "alerts_per_day": 2.8,
              "max_alerts_per_day": 6.0, "budget": 3.0}
    by_precision = gate_by_config(holdout, GateConfig(), 0.2)
    assert not by_precision.passed and "FAIL recall_at_precision>=0.2 = 0.1000" in by_precision.lines[1]
    by_budget = gate_by_config(holdout, GateConfig(rule="alert_budget", min_recall_at_alert_budget=0.5), 0.2,
                               budget=budget)
    assert by_budget.passed, by_budget.lines
    assert by_budget.lines[1].startswith("PASS recall_at_alert_budget<=3/day = 0.5500, rule >= 0.5")
    assert "2.8 alerts a day, busiest day 6" in by_budget.lines[1]
    assert not gate_by_config(holdout, GateConfig(rule="alert_budget", min_recall_at_alert_budget=0.6), 0.2,
                              budget=budget).passed


def test_config_keys_are_checked() -> None:
    cfg = TrainConfig.from_toml('[thresholds]\nalerts_per_day = 25\nreview_rule = "alert_budget"\n'
                                '[gate]\nrule = "alert_budget"\nmin_recall_at_alert_budget = 0.3\n', "test")
    assert cfg.thresholds.alerts_per_day == 25.0 and cfg.gate.rule == "alert_budget"
    with pytest.raises(ConfigError, match="'gate.rule' 'alert_budget' needs thresholds.alerts_per_day > 0"):
        TrainConfig.from_toml('[gate]\nrule = "alert_budget"\n', "test")
    with pytest.raises(ConfigError, match="'thresholds.review_rule' must be one of"):
        TrainConfig.from_toml('[thresholds]\nreview_rule = "budget"\n', "test")
