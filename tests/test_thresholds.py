"""Thresholds: chosen on validation by the documented rule, stored as data, applied as bands."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudcore.metrics import at_threshold
from fraudcore.thresholds import NEVER, ThresholdError, Thresholds, choose_thresholds, decide

SEED = 3


@pytest.fixture(scope="module")
def validation() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    s = rng.beta(0.4, 4.0, 30000)
    y = (rng.random(len(s)) < s).astype(np.int8)
    return y, s


def brute_force_review(y: np.ndarray, s: np.ndarray, floor: float) -> tuple[float, float]:
    """(threshold, recall) by trying every distinct score: max recall, then the highest threshold."""
    best = None
    for t in np.unique(s):
        m = at_threshold(y, s, t)
        if m["tp"] and m["precision"] >= floor and (best is None or m["recall"] >= best[1]):
            best = (float(t), m["recall"])
    return best


def test_review_is_the_highest_recall_meeting_the_floor(validation) -> None:
    y, s = validation
    th = choose_thresholds(y, s, precision_floor=0.20, decline_precision=0.60)
    at = at_threshold(y, s, th.review)
    assert at["precision"] >= 0.20 and th.review_feasible
    assert th.review_recall == at["recall"]
    lower = np.max(s[s < th.review])  # the next threshold down breaks the floor
    assert at_threshold(y, s, lower)["precision"] < 0.20 or at_threshold(y, s, lower)["recall"] == at["recall"]
    assert th.decline >= th.review and th.decline_precision_achieved >= 0.60 and th.decline_feasible
    assert th.decline_alert_rate <= th.review_alert_rate


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)), min_size=2, max_size=60),
       st.sampled_from([0.2, 0.5]))
def test_matches_brute_force(pairs, floor) -> None:
    y = np.array([p[0] for p in pairs], dtype=np.int8)
    s = np.array([p[1] for p in pairs])
    if y.min() == y.max():
        return
    th = choose_thresholds(y, s, precision_floor=floor, decline_precision=max(floor, 0.6))
    expected = brute_force_review(y, s, floor)
    if expected is None:
        assert not th.review_feasible
    else:
        assert th.review_feasible and (th.review, th.review_recall) == pytest.approx(expected)


def test_unreachable_decline_precision_never_declines() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.8, 0.8, 0.7, 0.7])  # precision is 0.5 at every threshold
    th = choose_thresholds(y, s, precision_floor=0.2, decline_precision=0.9)
    assert not th.decline_feasible and th.decline == NEVER
    assert (decide(np.array([1.0, 0.7, 0.1]), th) == ["review", "review", "approve"]).all()


def test_decide_bands_at_the_boundaries() -> None:
    th = Thresholds(review=0.1, decline=0.6, precision_floor=0.2, decline_precision=0.6)
    got = decide([0.0, 0.0999, 0.1, 0.5999, 0.6, 1.0], th)
    assert got.tolist() == ["approve", "approve", "review", "review", "decline", "decline"]
    assert decide(0.7, th) == "decline" and isinstance(decide(0.05, th), str)
    with pytest.raises(ValueError, match="NaN at positions \\[1\\]"):
        decide([0.2, float("nan")], th)


@given(scores=st.lists(st.sampled_from([0.0, 0.0999, 0.1, 0.5999, 0.6, 1.0, np.nextafter(0.1, 0)]) |
                       st.floats(0, 1), min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_decide_is_the_same_for_a_request_and_a_large_array(scores: list[float]) -> None:
    """Up to 16 scores are compared in Python; the decisions equal the vectorised ones."""
    th = Thresholds(review=0.1, decline=0.6, precision_floor=0.2, decline_precision=0.6)
    big = decide(np.array(scores * 20), th)[:len(scores)]  # > 16 scores: the numpy path
    small = [d for i in range(0, len(scores), 16) for d in decide(np.array(scores[i:i + 16]), th)]
    assert small == big.tolist()
    assert isinstance(decide(np.array(scores[:3]), th), np.ndarray)


def test_round_trip_and_validation(validation) -> None:
    th = choose_thresholds(*validation)
    again = Thresholds.from_dict(json.loads(json.dumps(th.to_dict())))
    assert again == th
    with pytest.raises(ThresholdError, match=r"unknown keys \['reviw'\]"):
        Thresholds.from_dict({**th.to_dict(), "reviw": 0.1})
    with pytest.raises(ThresholdError, match="review <= decline; got review=0.5, decline=0.4"):
        Thresholds(review=0.5, decline=0.4, precision_floor=0.2, decline_precision=0.6)
    with pytest.raises(ThresholdError, match="precision_floor <= decline_precision"):
        choose_thresholds(*validation, precision_floor=0.7, decline_precision=0.6)
