"""Drift of live inputs and scores against the bundle's reference profile.

PSI and missing rates come from `fraudcore.profile.drift_report`, so live traffic is binned on exactly
the edges training stored. On top of that this module decides what is a signal: a feature's PSI, a
missing-rate jump (the merchant-risk feed going dark shows up here, not in PSI, because PSI only bins
the values that are present), the score distribution and the alert rate against the expected one.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.monitoring.config import DriftConfig
from fraudcore.monitoring.signals import Signal
from fraudcore.profile import drift_report
from fraudcore.schema import Schema


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    group: str
    psi: float | None
    missing_rate: float
    ref_missing_rate: float
    severity: str              # "major", "moderate" or "stable"
    expected_to_move: bool
    clustered: bool            # an entity-level attribute (e.g. the merchant's): judged on its own PSI limit
    ref_freqs: list[float]
    live_freqs: list[float]
    bins: list[str]

    @property
    def missing_shift(self) -> float:
        return self.missing_rate - self.ref_missing_rate

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missing_shift": self.missing_shift}


@dataclass(frozen=True)
class ScoreDrift:
    psi: float | None
    alert_rate: float | None
    ref_alert_rate: float
    review_threshold: float
    ref_freqs: list[float]
    live_freqs: list[float]
    bins: list[str]

    @property
    def alert_rate_ratio(self) -> float | None:
        if self.alert_rate is None or self.ref_alert_rate <= 0:
            return None
        return self.alert_rate / self.ref_alert_rate

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "alert_rate_ratio": self.alert_rate_ratio}


@dataclass(frozen=True)
class DriftResult:
    n: int
    judged: bool
    features: list[FeatureDrift]          # most severe first
    score: ScoreDrift
    signals: list[Signal] = field(default_factory=list)

    @property
    def max_psi(self) -> float:
        """Largest PSI among row-level features that are not expected to move (the DriftMaxPSI metric)."""
        vals = [f.psi for f in self.features if f.psi is not None and not f.expected_to_move and not f.clustered]
        return max(vals, default=0.0)

    @property
    def max_psi_clustered(self) -> float:
        """Largest PSI among entity-level (clustered) features, judged against their own limit."""
        vals = [f.psi for f in self.features if f.psi is not None and not f.expected_to_move and f.clustered]
        return max(vals, default=0.0)

    @property
    def max_missing_shift(self) -> float:
        """Largest absolute missing-rate change over all features (the MissingRateShift metric)."""
        return max((abs(f.missing_shift) for f in self.features), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "judged": self.judged, "max_psi": self.max_psi,
                "max_psi_clustered": self.max_psi_clustered,
                "max_missing_shift": self.max_missing_shift, "features": [f.to_dict() for f in self.features],
                "score": self.score.to_dict(), "signals": [s.to_dict() for s in self.signals]}


def _bin_labels(entry: Mapping[str, Any]) -> list[str]:
    if entry["kind"] == "categorical":
        return list(entry["categories"])
    edges = entry["edges"]
    if not edges:
        return ["all"]
    return ([f"<= {edges[0]:.4g}"] + [f"({a:.4g}, {b:.4g}]" for a, b in zip(edges[:-1], edges[1:])]
            + [f"> {edges[-1]:.4g}"])


def _severity(psi: float | None, shift: float, limit: float, cfg: DriftConfig) -> tuple[str, float]:
    """(label, sort key): the sort key is the worst of PSI and missing shift, each relative to its limit."""
    rel = max((psi or 0.0) / limit, abs(shift) / cfg.missing_shift_max)
    if (psi or 0.0) >= limit or abs(shift) >= cfg.missing_shift_max:
        return "major", rel
    if (psi or 0.0) >= cfg.psi_moderate * limit / cfg.psi_major or abs(shift) >= cfg.missing_shift_max / 2:
        return "moderate", rel
    return "stable", rel


def compute_drift(profile: Mapping[str, Any], inputs: pd.DataFrame, scores: Any, schema: Schema,
                  cfg: DriftConfig) -> DriftResult:
    """Drift of the live `inputs` (raw schema fields) and `scores` against `profile`."""
    unknown = [n for n in cfg.expected_to_move_features if n not in schema.by_name]
    if unknown:
        raise ValueError(f"drift.expected_to_move_features names fields the schema does not have: {unknown}")
    s = np.asarray(scores, dtype=np.float64)
    n = int(len(s))
    report = drift_report(profile, inputs, s) if n else {}
    moving = set(cfg.expected_to_move_features)
    rows: list[tuple[float, FeatureDrift]] = []
    for name, ref in profile["features"].items():
        field_ = schema.by_name.get(name)
        group = (field_.group if field_ else None) or "ungrouped"
        r = report.get(name, {"psi": None, "missing_rate": 0.0})
        psi = r["psi"]
        shift = r["missing_rate"] - ref["missing_rate"]
        sev, key = _severity(psi, shift, cfg.psi_limit(group), cfg)
        live = r["freqs"] if n else [0.0] * len(ref["freqs"])
        rows.append((key, FeatureDrift(name, group, psi, r["missing_rate"], ref["missing_rate"], sev,
                                       name in moving or group in cfg.expected_to_move_groups,
                                       group in cfg.clustered_groups,
                                       list(ref["freqs"]), live, _bin_labels(ref))))
    rows.sort(key=lambda kv: (kv[1].expected_to_move, -kv[0]))
    ref_s = profile["score"]
    sr = report.get("__score__", {})
    score = ScoreDrift(sr.get("psi"), sr.get("alert_rate"), float(profile["alert_rate"]),
                       float(profile["review_threshold"]), list(ref_s["freqs"]),
                       sr["freqs"] if n else [0.0] * len(ref_s["freqs"]), _bin_labels(ref_s))
    result = DriftResult(n, n >= cfg.min_rows, [f for _, f in rows], score)
    if result.judged:
        result.signals.extend(drift_signals(result, cfg))
    return result


def drift_signals(d: DriftResult, cfg: DriftConfig) -> list[Signal]:
    out: list[Signal] = []
    for f in d.features:
        if f.expected_to_move:
            continue
        limit = cfg.psi_limit(f.group)
        if f.psi is not None and f.psi >= limit:
            out.append(Signal("feature_psi", "investigate", f.psi, limit, f.name,
                              f"{f.name}: PSI {f.psi:.3f} >= {limit:g} against the training reference"))
    for f in d.features:
        if abs(f.missing_shift) >= cfg.missing_shift_max:
            out.append(Signal("missing_rate_shift", "investigate", f.missing_shift, cfg.missing_shift_max, f.name,
                              f"{f.name}: missing rate {f.missing_rate:.1%} vs {f.ref_missing_rate:.1%} in training "
                              f"(shift {f.missing_shift:+.1%}, limit ±{cfg.missing_shift_max:.0%})"))
    sc = d.score
    if sc.psi is not None and sc.psi >= cfg.score_psi_major:
        out.append(Signal("score_psi", "investigate", sc.psi, cfg.score_psi_major, "score",
                          f"score distribution PSI {sc.psi:.3f} >= {cfg.score_psi_major:g}"))
    ratio = sc.alert_rate_ratio
    if ratio is not None and ratio > cfg.alert_rate_ratio_high:
        out.append(Signal("alert_rate_ratio", "investigate", ratio, cfg.alert_rate_ratio_high, "score",
                          f"alert rate {sc.alert_rate:.2%} is {ratio:.2f}x the expected {sc.ref_alert_rate:.2%} "
                          f"(limit {cfg.alert_rate_ratio_high:g}x)"))
    elif ratio is not None and ratio < cfg.alert_rate_ratio_low:
        out.append(Signal("alert_rate_ratio", "investigate", ratio, cfg.alert_rate_ratio_low, "score",
                          f"alert rate {sc.alert_rate:.2%} is {ratio:.2f}x the expected {sc.ref_alert_rate:.2%} "
                          f"(floor {cfg.alert_rate_ratio_low:g}x)"))
    return out
