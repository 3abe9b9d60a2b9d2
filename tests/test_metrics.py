"""Metrics: agreement with scikit-learn, hand-checked operating points, calibration, slices, JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudcore import metrics

SEED = 5


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the scores themselves: calibrated by construction."""
    rng = np.random.default_rng(SEED)
    s = rng.beta(0.5, 8.0, 20000)
    y = (rng.random(len(s)) < s).astype(np.int8)
    return y, s


def test_headline_numbers_match_sklearn(noisy) -> None:
    y, s = noisy
    assert metrics.pr_auc(y, s) == pytest.approx(average_precision_score(y, s))
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert metrics.pr_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_hand_checked_operating_points() -> None:
    y = [0, 1, 0, 1, 1, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.1, 0.05]
    # thresholds from high to low: 0.9 -> P 0/1; 0.8 -> 1/2; 0.7 -> 1/3; 0.6 -> 2/4 R 2/3; 0.3 -> 3/5 R 1
    assert metrics.recall_at_precision(y, s, 0.6) == 1.0
    assert metrics.best_threshold_at_precision(y, s, 0.6) == (0.3, 1.0, 0.6)
    assert metrics.recall_at_precision(y, s, 0.61) == 0.0  # no threshold reaches 0.61
    at = metrics.at_threshold(y, s, 0.6)
    assert (at["tp"], at["fp"], at["fn"], at["tn"]) == (2, 2, 1, 3)
    assert at["precision"] == 0.5 and at["recall"] == pytest.approx(2 / 3) and at["alert_rate"] == 0.5
    assert metrics.best_threshold_at_precision(y, s, 0.99) is None


def test_highest_threshold_wins_among_equal_recall() -> None:
    # 0.5 and 0.4 both catch the single fraud (recall 1); 0.5 has fewer alerts.
    y, s = [0, 1, 0], [0.4, 0.5, 0.1]
    assert metrics.best_threshold_at_precision(y, s, 0.3)[0] == 0.5


def test_errors_name_the_rule() -> None:
    with pytest.raises(ValueError, match="needs both classes; got 0 positives in 3 rows"):
        metrics.pr_auc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"labels must be 0 or 1; got 2 \(first at row 1\)"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"scores must be finite; got nan \(first at row 1\)"):
        metrics.pr_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="equal length"):
        metrics.pr_auc([0, 1, 1], [0.1, 0.2])


def test_pr_curve_is_thinned_and_keeps_the_shape(noisy) -> None:
    y, s = noisy
    curve = metrics.pr_curve(y, s, max_points=100)
    r = np.array(curve["recall"])
    assert 10 < len(r) <= 100
    assert (np.diff(r) <= 0).all() and (np.diff(curve["threshold"]) > 0).all()
    assert r[0] == 1.0


def test_calibration_error_small_when_calibrated_and_large_when_not(noisy) -> None:
    y, s = noisy
    good = metrics.calibration(y, s)
    bad = metrics.calibration(y, np.clip(s * 3, 0, 1))
    assert good["ece"] < 0.01
    assert bad["ece"] > 0.05
    assert len(good["mean_score"]) == len(good["fraud_rate"]) == 10


def test_evaluate_is_json_and_slices_handle_one_class(noisy) -> None:
    y, s = noisy
    high = s > 0.5
    out = metrics.evaluate(y, s, threshold=0.3, slices={"high": high, "none_positive": (y == 0)})
    json.dumps(out, allow_nan=False)
    assert out["recall_at_precision"] == metrics.recall_at_precision(y, s, 0.20)
    assert out["slices"]["high"]["n"] == int(high.sum())
    assert out["slices"]["none_positive"]["pr_auc"] is None
    assert out["alert_rate"] == pytest.approx(np.mean(s >= 0.3))
    with pytest.raises(ValueError, match="slice 'short': mask must have shape"):
        metrics.slice_metrics(y, s, 0.3, {"short": high[:5]})
