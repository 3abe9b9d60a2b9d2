"""Model quality figures for a binary fraud score, as plain floats that go straight into JSON.

Thin wrappers over scikit-learn so that training, evaluation and monitoring compute every number
the same way. With fraud at well under 1%, PR-AUC (average precision) is the headline: ROC-AUC
looks good for almost any model at this imbalance.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

# The operating constraint from fraud operations: at least 1 alert in 5 is fraud.
DEFAULT_PRECISION_FLOOR = 0.20


def _check(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise ValueError(f"labels and scores must be 1-D and of equal length; got shapes {y.shape} and {s.shape}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"labels must be 0 or 1; got {y[bad][0].item()!r} (first at row {int(np.argmax(bad))})")
    if not np.isfinite(s).all():
        i = int(np.argmax(~np.isfinite(s)))
        raise ValueError(f"scores must be finite; got {s[i].item()!r} (first at row {i})")
    return y.astype(np.int8), s


def _both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValueError(f"{what} needs both classes; got {n_pos} positives in {len(y)} rows")


def pr_auc(y: Any, scores: Any) -> float:
    """Area under the precision-recall curve as average precision (no trapezoid optimism)."""
    y, s = _check(y, scores)
    _both_classes(y, "pr_auc")
    return float(average_precision_score(y, s))


def roc_auc(y: Any, scores: Any) -> float:
    y, s = _check(y, scores)
    _both_classes(y, "roc_auc")
    return float(roc_auc_score(y, s))


def operating_points(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, threshold) for every distinct threshold; `score >= threshold` alerts.

    sklearn's last point (precision 1, recall 0) has no threshold and is dropped.
    """
    y, s = _check(y, scores)
    _both_classes(y, "a precision-recall curve")
    precision, recall, thresholds = precision_recall_curve(y, s)
    return precision[:-1], recall[:-1], thresholds


def best_threshold_at_precision(y: Any, scores: Any, floor: float) -> tuple[float, float, float] | None:
    """(threshold, recall, precision) with the highest recall subject to precision >= floor.

    Among thresholds with that recall the highest is taken: same frauds caught, fewest alerts.
    None when no threshold reaches the floor.
    """
    if not 0.0 < floor <= 1.0:
        raise ValueError(f"precision floor must be in (0, 1]; got {floor!r}")
    precision, recall, thresholds = operating_points(y, scores)
    ok = precision >= floor
    if not ok.any():
        return None
    best = recall[ok].max()
    i = np.flatnonzero(ok & (recall == best))[-1]
    return float(thresholds[i]), float(recall[i]), float(precision[i])


def recall_at_precision(y: Any, scores: Any, floor: float) -> float:
    """Highest recall reachable with precision >= floor (0.0 when the floor is never reached)."""
    best = best_threshold_at_precision(y, scores, floor)
    return 0.0 if best is None else best[1]


def at_threshold(y: Any, scores: Any, threshold: float) -> dict[str, float]:
    """Confusion counts, precision, recall and alert rate when `score >= threshold` alerts."""
    y, s = _check(y, scores)
    alert = s >= threshold
    tp = int(np.sum(alert & (y == 1)))
    fp = int(np.sum(alert & (y == 0)))
    fn = int(np.sum(~alert & (y == 1)))
    tn = len(y) - tp - fp - fn
    return {
        "threshold": float(threshold),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "alert_rate": (tp + fp) / len(y) if len(y) else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def pr_curve(y: Any, scores: Any, max_points: int = 200) -> dict[str, list[float]]:
    """The PR curve thinned to about `max_points` evenly spaced in recall, for plotting."""
    precision, recall, thresholds = operating_points(y, scores)
    if len(recall) > max_points:
        # recall falls as the threshold rises; keep the first point at each recall grid step.
        grid = np.linspace(recall[0], recall[-1], max_points)
        idx = np.unique(np.clip(np.searchsorted(-recall, -grid, side="left"), 0, len(recall) - 1))
        precision, recall, thresholds = precision[idx], recall[idx], thresholds[idx]
    return {"precision": precision.tolist(), "recall": recall.tolist(), "threshold": thresholds.tolist()}


def calibration(y: Any, scores: Any, n_bins: int = 10) -> dict[str, Any]:
    """Reliability curve (quantile bins, so the rare high scores get bins of their own) and its ECE.

    ECE = sum over bins of (bin share) * |mean score - fraud rate|, on the same quantile bins.
    """
    y, s = _check(y, scores)
    frac_pos, mean_pred = calibration_curve(y, s, n_bins=n_bins, strategy="quantile")
    edges = np.unique(np.quantile(s, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges[1:-1], s, side="left"), 0, max(len(edges) - 2, 0))
    counts = np.bincount(which, minlength=len(edges) - 1)
    ece = 0.0
    for b in np.flatnonzero(counts):
        m = which == b
        ece += counts[b] / len(s) * abs(float(s[m].mean()) - float(y[m].mean()))
    return {"mean_score": mean_pred.tolist(), "fraud_rate": frac_pos.tolist(), "ece": float(ece)}


def _summary(y: np.ndarray, s: np.ndarray, threshold: float, precision_floor: float) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(len(y)), "positives": int(y.sum()),
                           "fraud_rate": float(y.mean()) if len(y) else None}
    n_pos = int(y.sum())
    if 0 < n_pos < len(y):
        out["pr_auc"] = pr_auc(y, s)
        out["roc_auc"] = roc_auc(y, s)
        out["recall_at_precision"] = recall_at_precision(y, s, precision_floor)
    else:  # undefined with one class; None keeps the JSON valid and the gap visible
        out["pr_auc"] = out["roc_auc"] = out["recall_at_precision"] = None
    out["precision_floor"] = float(precision_floor)
    out.update({f"{k}_at_threshold" if k in ("precision", "recall") else k: v
                for k, v in at_threshold(y, s, threshold).items()})
    return out


def slice_metrics(y: Any, scores: Any, threshold: float, masks: Mapping[str, Any],
                  precision_floor: float = DEFAULT_PRECISION_FLOOR) -> dict[str, dict[str, Any]]:
    """The same summary for each named boolean row mask (e.g. one per payment method)."""
    y, s = _check(y, scores)
    out = {}
    for name, mask in masks.items():
        m = np.asarray(mask, dtype=bool)
        if m.shape != y.shape:
            raise ValueError(f"slice {name!r}: mask must have shape {y.shape}; got {m.shape}")
        out[str(name)] = _summary(y[m], s[m], threshold, precision_floor)
    return out


def evaluate(y: Any, scores: Any, threshold: float, slices: Mapping[str, Any] | None = None,
             precision_floor: float = DEFAULT_PRECISION_FLOOR, curve_points: int = 200) -> dict[str, Any]:
    """Every headline figure for one labelled set, JSON-ready.

    Keys: n, positives, fraud_rate, pr_auc, roc_auc, recall_at_precision (at `precision_floor`),
    threshold, precision_at_threshold, recall_at_threshold, alert_rate, tp/fp/fn/tn,
    calibration {mean_score, fraud_rate, ece}, pr_curve {precision, recall, threshold}, slices.
    """
    y, s = _check(y, scores)
    _both_classes(y, "evaluate")
    out = _summary(y, s, threshold, precision_floor)
    out["calibration"] = calibration(y, s)
    out["pr_curve"] = pr_curve(y, s, curve_points)
    out["slices"] = slice_metrics(y, s, threshold, slices, precision_floor) if slices else {}
    return out
