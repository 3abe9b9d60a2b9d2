"""Decision thresholds: where a score turns into "review" and where into "decline".

Both are chosen on validation data only; the holdout never influences a choice.

- review: the lowest-cost way to meet the operating constraint. It is the threshold with the highest
  recall subject to precision >= `precision_floor` (default 0.20: at least one alert in five is fraud,
  which is what an analyst queue can absorb).
- decline: a stricter band at precision >= `decline_precision` (default 0.60). A decline hits a customer
  with no human in the loop, so it is kept for scores where most alerts are fraud. A false decline costs
  a sale and often the customer; a false review costs a few minutes of an analyst's time.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from fraudcore.errors import FraudError
from fraudcore.metrics import DEFAULT_PRECISION_FLOOR, at_threshold, best_threshold_at_precision, operating_points

DEFAULT_DECLINE_PRECISION = 0.60
# A threshold no probability reaches: used for a band whose precision target is never met.
NEVER = math.nextafter(1.0, 2.0)
DECISIONS = ("approve", "review", "decline")
_FEW = 16  # up to this many scores `decide` compares in Python


class ThresholdError(FraudError, ValueError):
    """Thresholds that cannot be chosen or loaded; the message names the field and the rule."""


@dataclass(frozen=True)
class Thresholds:
    """The decision bands: `score >= decline` declines, else `score >= review` reviews, else approve.

    `*_feasible` is False when validation never reached that band's precision target; the band then
    uses the most precise threshold (review) or `NEVER` (decline), and the gate will fail the model.
    """

    review: float
    decline: float
    precision_floor: float
    decline_precision: float
    review_feasible: bool = True
    decline_feasible: bool = True
    review_recall: float | None = None
    review_precision_achieved: float | None = None
    review_alert_rate: float | None = None
    decline_recall: float | None = None
    decline_precision_achieved: float | None = None
    decline_alert_rate: float | None = None
    # The alert-budget rule (fraudcore/alert_budget.py), when configured: which rule set `review`, the
    # budget in alerts a day, and the review threshold each rule chose on validation.
    review_rule: str = "precision"
    alerts_per_day: float | None = None
    precision_review: float | None = None
    budget_review: float | None = None

    def __post_init__(self) -> None:
        for name in ("review", "decline", "precision_floor", "decline_precision"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ThresholdError(f"thresholds field {name!r} must be a finite number; got {v!r}")
        if not 0.0 <= self.review <= self.decline:
            raise ThresholdError(f"thresholds must satisfy 0 <= review <= decline; "
                                 f"got review={self.review!r}, decline={self.decline!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ThresholdError(f"thresholds: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise ThresholdError(f"thresholds: {err}") from err


def choose_thresholds(y_val: Any, s_val: Any, precision_floor: float = DEFAULT_PRECISION_FLOOR,
                      decline_precision: float = DEFAULT_DECLINE_PRECISION) -> Thresholds:
    """Pick the review and decline thresholds on validation labels and scores (see module docstring)."""
    if not 0.0 < precision_floor <= decline_precision <= 1.0:
        raise ThresholdError(f"need 0 < precision_floor <= decline_precision <= 1; "
                             f"got precision_floor={precision_floor!r}, decline_precision={decline_precision!r}")
    review = best_threshold_at_precision(y_val, s_val, precision_floor)
    review_ok = review is not None
    if review is None:
        precision, _, thresholds = operating_points(y_val, s_val)
        i = np.flatnonzero(precision == precision.max())[-1]
        review_t = float(thresholds[i])
    else:
        review_t = review[0]
    decline = best_threshold_at_precision(y_val, s_val, decline_precision)
    decline_t = NEVER if decline is None else max(decline[0], review_t)
    r = at_threshold(y_val, s_val, review_t)
    d = at_threshold(y_val, s_val, decline_t)
    return Thresholds(
        review=review_t, decline=decline_t,
        precision_floor=float(precision_floor), decline_precision=float(decline_precision),
        review_feasible=review_ok, decline_feasible=decline is not None,
        review_recall=r["recall"], review_precision_achieved=r["precision"], review_alert_rate=r["alert_rate"],
        decline_recall=d["recall"], decline_precision_achieved=d["precision"], decline_alert_rate=d["alert_rate"],
    )


def decide(scores: Any, thresholds: Thresholds) -> Any:
    """"approve" / "review" / "decline" per score: a str for a scalar, else an array of str."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1 and len(s) <= _FEW:
        # a request's scores: Python comparisons, the same rule, without four numpy calls
        values = s.tolist()
        if not any(v != v for v in values):
            review, decline = thresholds.review, thresholds.decline
            return np.array([DECISIONS[(v >= review) + (v >= decline)] for v in values], dtype=object)
    if np.isnan(s).any():
        raise ValueError(f"scores must not be NaN; got NaN at positions {np.flatnonzero(np.isnan(s))[:5].tolist()}")
    band = (s >= thresholds.review).astype(np.int8) + (s >= thresholds.decline)
    out = np.asarray(DECISIONS, dtype=object)[band]
    return str(out) if s.ndim == 0 else out
