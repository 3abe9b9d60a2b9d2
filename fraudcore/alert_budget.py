"""The alert-budget rule: a review threshold set by what the analysts can review, N alerts a day.

Besides "the highest recall with precision >= P" (fraudcore/thresholds.py), a fraud team often sizes the
review queue by capacity. The budget threshold is the lowest score threshold whose alerts, on the
validation period, average at most N a day (the number of alerts over the number of days with rows). A
fixed threshold gives a queue that varies from day to day, so the busiest day is reported beside the mean.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.metrics import at_threshold
from fraudcore.thresholds import Thresholds


def _days(times: Any) -> np.ndarray:
    return pd.to_datetime(pd.Series(times), utc=True).dt.floor("D").to_numpy()


def budget_threshold(scores: Any, times: Any, alerts_per_day: float) -> float:
    """The lowest threshold with at most `alerts_per_day` alerts a day on average over the days of `times`."""
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    n_days = len(np.unique(_days(times)))
    budget = int(math.floor(alerts_per_day * n_days))
    if budget >= len(s):
        return float(s[-1])  # the budget covers every row: alert on all of them
    # `score >= t` alerts; t just above the (budget+1)-th highest score keeps at most `budget` alerts
    return float(np.nextafter(s[budget], np.inf))


def daily_alerts(scores: Any, times: Any, threshold: float) -> dict[str, float]:
    """Alerts a day at `threshold`: the mean over the days with rows, and the busiest day."""
    alert = np.asarray(scores, dtype=np.float64) >= threshold
    counts = pd.Series(alert.astype(np.int64)).groupby(_days(times)).sum()
    return {"alerts_per_day": float(counts.mean()) if len(counts) else 0.0,
            "max_alerts_per_day": float(counts.max()) if len(counts) else 0.0, "days": int(len(counts))}


def rule_figures(y: Any, scores: Any, times: Any, threshold: float) -> dict[str, float]:
    """What one review threshold does on a labelled period: precision, recall, alert rate and alerts a day."""
    at = at_threshold(y, scores, threshold)
    return {"threshold": float(threshold), "precision": at["precision"], "recall": at["recall"],
            "alert_rate": at["alert_rate"], **daily_alerts(scores, times, threshold)}


def with_alert_budget(thresholds: Thresholds, y: Any, scores: Any, times: Any, alerts_per_day: float,
                      rule: str = "precision") -> Thresholds:
    """`thresholds` (the precision rule's, from `choose_thresholds`) with the budget threshold chosen on the
    same validation scores beside it; with rule "alert_budget" the budget threshold becomes the review
    threshold (and the decline threshold is raised to it if it was lower)."""
    budget = budget_threshold(scores, times, alerts_per_day)
    changes: dict[str, Any] = {"review_rule": rule, "alerts_per_day": float(alerts_per_day),
                               "precision_review": thresholds.review, "budget_review": budget}
    if rule == "alert_budget":
        r = at_threshold(y, scores, budget)
        changes.update(review=budget, review_feasible=True, review_recall=r["recall"],
                       review_precision_achieved=r["precision"], review_alert_rate=r["alert_rate"])
        if thresholds.decline < budget:
            d = at_threshold(y, scores, budget)
            changes.update(decline=budget, decline_recall=d["recall"], decline_precision_achieved=d["precision"],
                           decline_alert_rate=d["alert_rate"])
    return dataclasses.replace(thresholds, **changes)


def rule_table(y: Any, scores: Any, times: Any, thresholds: Thresholds) -> dict[str, dict[str, float]]:
    """Each review rule's threshold and what it does on this period ({} without an alert budget)."""
    if thresholds.budget_review is None:
        return {}
    precision_t = thresholds.review if thresholds.precision_review is None else thresholds.precision_review
    return {"precision": rule_figures(y, scores, times, precision_t),
            "alert_budget": {**rule_figures(y, scores, times, thresholds.budget_review),
                             "budget": float(thresholds.alerts_per_day or 0.0)}}
