"""Prediction quality under delayed labels.

Chargebacks arrive weeks after the transaction, so a transaction with no label yet is not a known
legitimate one. Labels join the capture by transaction id as they arrive; a transaction without a label
counts as legitimate only inside a window that is mature: one where, by the assumed chargeback delay
distribution (lognormal, median ~3 weeks), at least `min_maturity` of the frauds should already have
been reported. Immature windows are listed with their maturity but never judged, because their apparent
recall and precision are biased low by the labels still to come.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from fraudcore.errors import FraudError
from fraudcore.metrics import at_threshold, pr_auc
from fraudcore.monitoring.config import QualityConfig
from fraudcore.monitoring.signals import Signal

LABEL_COLUMNS = ("transaction_id", "is_fraud", "label_time")


class LabelError(FraudError, ValueError):
    """A labels file that cannot be used; the message names the file, the column and the rule."""


def load_labels(path: str | Path) -> pd.DataFrame:
    """Labels as (transaction_id int64, is_fraud int8, label_time UTC) from parquet, CSV or JSON lines.

    `label_time` is when the label became known (the chargeback date); without it every label counts as
    arrived. A transaction labelled twice keeps its latest label.
    """
    p = Path(path)
    if not p.is_file():
        raise LabelError(f"labels file {p} does not exist")
    suffix = "".join(p.suffixes[-2:]) if p.suffix == ".gz" else p.suffix
    try:
        if suffix == ".parquet":
            raw = pd.read_parquet(p)
        elif suffix in (".csv", ".csv.gz"):
            raw = pd.read_csv(p)
        elif suffix in (".jsonl", ".json", ".jsonl.gz"):
            raw = pd.read_json(p, lines=True)
        else:
            raise LabelError(f"labels file {p}: format must be .parquet, .csv or .jsonl; got {p.suffix!r}")
    except (ValueError, OSError) as err:
        if isinstance(err, LabelError):
            raise
        raise LabelError(f"labels file {p} cannot be read: {err}") from err
    return clean_labels(raw, str(p))


def clean_labels(raw: pd.DataFrame, source: str = "<labels>") -> pd.DataFrame:
    for col in LABEL_COLUMNS[:2]:
        if col not in raw.columns:
            raise LabelError(f"labels {source}: column {col!r} is required; got columns {list(raw.columns)}")
    ids = pd.to_numeric(raw["transaction_id"], errors="coerce")
    y = pd.to_numeric(raw["is_fraud"], errors="coerce")
    bad = ids.isna() | y.isna() | ~y.isin((0, 1))
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise LabelError(f"labels {source}: transaction_id must be an integer and is_fraud 0 or 1; "
                         f"{int(bad.sum())} bad rows (first at row {i}: {raw.iloc[i].to_dict()})")
    t = (pd.to_datetime(raw["label_time"], utc=True, errors="coerce") if "label_time" in raw.columns
         else pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]"))
    if "label_time" in raw.columns and (t.isna() & raw["label_time"].notna()).any():
        i = int(np.argmax((t.isna() & raw["label_time"].notna()).to_numpy()))
        raise LabelError(f"labels {source}: label_time must be a timestamp; got {raw['label_time'].iloc[i]!r} "
                         f"(row {i})")
    out = pd.DataFrame({"transaction_id": ids.astype(np.int64), "is_fraud": y.astype(np.int8), "label_time": t})
    return out.sort_values("label_time", kind="stable", na_position="first").drop_duplicates(
        "transaction_id", keep="last").reset_index(drop=True)


def expected_arrived(age_days: Any, cfg: QualityConfig) -> np.ndarray:
    """Share of eventual chargebacks expected to have arrived `age_days` after the transaction."""
    age = np.asarray(age_days, dtype=np.float64)
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(age, 0.0)) - math.log(cfg.label_delay_median_days)) / cfg.label_delay_sigma
    return ndtr(z)


@dataclass(frozen=True)
class QualityReference:
    """What quality looked like before deployment (bundle holdout, or validation via the thresholds)."""

    pr_auc: float | None
    recall: float | None
    precision: float | None
    precision_floor: float
    alert_rate: float
    source: str

    @classmethod
    def from_bundle(cls, metrics: Mapping[str, Any], thresholds: Any, profile: Mapping[str, Any]) -> QualityReference:
        hold = metrics.get("holdout") if isinstance(metrics.get("holdout"), Mapping) else None
        if hold is None and isinstance(metrics.get("test"), Mapping):
            hold = metrics["test"]
        m = hold if hold is not None else metrics
        source = "holdout" if hold is not None else "metrics.json"
        recall, precision = m.get("recall_at_threshold"), m.get("precision_at_threshold")
        if recall is None or precision is None:
            recall, precision, source = thresholds.review_recall, thresholds.review_precision_achieved, "validation"
        return cls(m.get("pr_auc"), recall, precision, float(thresholds.precision_floor),
                   float(profile["alert_rate"]), source)


@dataclass(frozen=True)
class QualityWindow:
    start: str
    end: str
    n: int
    labels_arrived: int
    maturity: float
    judged: bool
    pr_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    alert_rate: float | None = None
    pr_auc_high: float | None = None      # one-sided upper confidence bounds, set on the pooled window
    recall_high: float | None = None
    precision_high: float | None = None
    note: str = ""


@dataclass(frozen=True)
class QualityResult:
    as_of: str
    threshold: float
    reference: QualityReference
    windows: list[QualityWindow]
    pooled: QualityWindow | None          # all mature windows together; None when none is mature
    labels_total: int
    labels_matched: int
    signals: list[Signal] = field(default_factory=list)

    @property
    def judged(self) -> bool:
        return self.pooled is not None and self.pooled.judged

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "threshold": self.threshold, "reference": asdict(self.reference),
                "windows": [asdict(w) for w in self.windows], "pooled": asdict(self.pooled) if self.pooled else None,
                "labels_total": self.labels_total, "labels_matched": self.labels_matched, "judged": self.judged,
                "signals": [s.to_dict() for s in self.signals]}


def _assess(frame: pd.DataFrame, start: str, end: str, maturity: float, threshold: float,
            cfg: QualityConfig) -> QualityWindow:
    y = frame["label"].to_numpy()
    s = frame["score"].to_numpy()
    arrived = int(y.sum())
    base = dict(start=start, end=end, n=int(len(frame)), labels_arrived=arrived, maturity=float(maturity))
    if maturity < cfg.min_maturity:
        return QualityWindow(**base, judged=False,
                             note=f"immature: {maturity:.0%} of chargebacks expected so far, need "
                                  f"{cfg.min_maturity:.0%}")
    if arrived < cfg.min_positives or arrived == len(y):
        return QualityWindow(**base, judged=False,
                             note=f"too few labelled frauds: {arrived}, need {cfg.min_positives}")
    at = at_threshold(y, s, threshold)
    return QualityWindow(**base, judged=True, pr_auc=pr_auc(y, s), precision=at["precision"], recall=at["recall"],
                         alert_rate=at["alert_rate"])


def wilson_upper(successes: int, n: int, confidence: float) -> float:
    """One-sided Wilson upper bound of a proportion."""
    if n == 0:
        return 1.0
    z = float(ndtri(confidence))
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + half) / (1 + z * z / n))


def bootstrap_pr_auc_upper(y: np.ndarray, s: np.ndarray, confidence: float, rounds: int, seed: int = 0) -> float:
    """One-sided upper bound of PR-AUC from resampling rows (resamples with one class are skipped)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        yb = y[idx]
        if 0 < yb.sum() < n:
            values.append(pr_auc(yb, s[idx]))
    return float(np.quantile(values, confidence)) if values else 1.0


def _with_bounds(w: QualityWindow, frame: pd.DataFrame, threshold: float, cfg: QualityConfig) -> QualityWindow:
    if not w.judged:
        return w
    y, s = frame["label"].to_numpy(), frame["score"].to_numpy()
    at = at_threshold(y, s, threshold)
    return replace(w, pr_auc_high=bootstrap_pr_auc_upper(y, s, cfg.confidence, cfg.bootstrap_rounds),
                   recall_high=wilson_upper(at["tp"], at["tp"] + at["fn"], cfg.confidence),
                   precision_high=wilson_upper(at["tp"], at["tp"] + at["fp"], cfg.confidence))


def compute_quality(scored: pd.DataFrame, labels: pd.DataFrame | None, as_of: datetime, threshold: float,
                    reference: QualityReference, cfg: QualityConfig) -> QualityResult:
    """Join the labels known at `as_of` to the scored capture and judge each mature window."""
    as_of_ts = pd.Timestamp(as_of).tz_convert("UTC") if pd.Timestamp(as_of).tzinfo else pd.Timestamp(as_of, tz="UTC")
    if labels is None:
        labels = clean_labels(pd.DataFrame({"transaction_id": [], "is_fraud": []}))
    known = labels[labels["label_time"].isna() | (labels["label_time"] <= as_of_ts)]
    y = scored[["transaction_id"]].merge(known[["transaction_id", "is_fraud"]], on="transaction_id", how="left")
    frame = pd.DataFrame({"time": pd.to_datetime(scored["time"], utc=True).reset_index(drop=True),
                          "score": scored["score"].to_numpy(dtype=np.float64),
                          "label": y["is_fraud"].fillna(0).astype(np.int8).to_numpy()})
    age = (as_of_ts - frame["time"]).dt.total_seconds().to_numpy() / 86400.0
    frame["arrived"] = expected_arrived(age, cfg)
    width = pd.Timedelta(days=cfg.window_days)
    windows: list[QualityWindow] = []
    mature_parts = []
    if len(frame):
        origin = frame["time"].min().floor("D")
        frame["w"] = ((frame["time"] - origin) // width).astype(np.int64)
        for w, grp in frame.groupby("w", sort=True):
            start = origin + w * width
            maturity = float(grp["arrived"].mean())
            windows.append(_assess(grp, start.isoformat(), (start + width).isoformat(), maturity, threshold, cfg))
            if maturity >= cfg.min_maturity:
                mature_parts.append(grp)
    pooled = None
    if mature_parts:
        m = pd.concat(mature_parts)
        pooled = _with_bounds(_assess(m, windows[0].start if windows else "", windows[-1].end if windows else "",
                                      float(m["arrived"].mean()), threshold, cfg), m, threshold, cfg)
    result = QualityResult(as_of_ts.isoformat(), float(threshold), reference, windows, pooled, int(len(known)),
                           int(known["transaction_id"].isin(scored["transaction_id"]).sum()))
    if result.judged:
        result.signals.extend(quality_signals(result, cfg))
    return result


def quality_signals(q: QualityResult, cfg: QualityConfig) -> list[Signal]:
    """Signals on the pooled mature window; each drop must hold at the upper end of the live figure's
    one-sided `cfg.confidence` interval, so sampling noise alone rarely triggers a retrain."""
    p, ref = q.pooled, q.reference
    assert p is not None
    out = []
    conf = f"{cfg.confidence:.0%} upper bound"
    if ref.pr_auc and p.pr_auc is not None and p.pr_auc_high is not None \
            and p.pr_auc_high < cfg.pr_auc_ratio_min * ref.pr_auc:
        out.append(Signal("pr_auc_drop", "retrain", p.pr_auc / ref.pr_auc, cfg.pr_auc_ratio_min, "quality",
                          f"PR-AUC {p.pr_auc:.3f} on mature labels ({conf} {p.pr_auc_high:.3f}) is "
                          f"{p.pr_auc / ref.pr_auc:.0%} of the {ref.source}'s {ref.pr_auc:.3f} "
                          f"(floor {cfg.pr_auc_ratio_min:.0%})"))
    if ref.recall is not None and p.recall is not None and p.recall_high is not None \
            and ref.recall - p.recall_high > cfg.recall_drop_max:
        out.append(Signal("recall_drop", "retrain", ref.recall - p.recall, cfg.recall_drop_max, "quality",
                          f"recall at the live threshold {p.recall:.1%} ({conf} {p.recall_high:.1%}) vs "
                          f"{ref.recall:.1%} on the {ref.source} (limit: {cfg.recall_drop_max:.0%} below)"))
    floor = cfg.precision_ratio_min * ref.precision_floor
    if p.precision is not None and p.precision_high is not None and p.precision_high < floor:
        out.append(Signal("precision_low", "investigate", p.precision, floor, "quality",
                          f"precision at the live threshold {p.precision:.1%} ({conf} {p.precision_high:.1%}) "
                          f"< {floor:.1%} ({cfg.precision_ratio_min:g} x the {ref.precision_floor:.0%} floor)"))
    return out
