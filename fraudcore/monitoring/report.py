"""One monitoring run: capture + bundle + labels in, every figure, every signal and the verdict out."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from fraudcore.bundle import Bundle
from fraudcore.errors import FraudError
from fraudcore.monitoring.capture import CaptureWindow, read_capture
from fraudcore.monitoring.config import MonitorConfig
from fraudcore.monitoring.drift import DriftResult, compute_drift
from fraudcore.monitoring.operations import OperationsResult, compute_operations
from fraudcore.monitoring.quality import QualityReference, QualityResult, compute_quality
from fraudcore.monitoring.signals import Signal, verdict


class MonitorError(FraudError, ValueError):
    """A monitoring run that cannot produce a meaningful report (e.g. no traffic from this model)."""


@dataclass(frozen=True)
class MonitorReport:
    model_version: str
    window_start: str | None
    window_end: str | None
    capture: dict[str, Any]
    versions: dict[str, int]
    drift: DriftResult
    operations: OperationsResult
    quality: QualityResult
    verdict: str
    signals: list[Signal] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "window_start": self.window_start,
                "window_end": self.window_end, "verdict": self.verdict, "capture": self.capture,
                "versions": self.versions, "signals": [s.to_dict() for s in self.signals],
                "drift": self.drift.to_dict(), "operations": self.operations.to_dict(),
                "quality": self.quality.to_dict()}

    def summary_lines(self) -> list[str]:
        """A few lines for a terminal or a log: the verdict, then each signal."""
        lines = [f"verdict: {self.verdict.upper()}  (model {self.model_version}, {self.capture['scored']} scored, "
                 f"{self.capture['failures']} failed, {self.capture['bad_lines']} bad capture lines)"]
        q = self.quality.pooled
        lines.append("quality: " + (f"PR-AUC {q.pr_auc:.3f}, recall {q.recall:.1%}, precision {q.precision:.1%} "
                                    f"at maturity {q.maturity:.0%}" if self.quality.judged and q else
                                    "not judged (" + (q.note if q else "no mature window") + ")"))
        lines += [f"  [{s.level}] {s.message}" for s in self.signals] or ["  no signals"]
        return lines


def analyse(window: CaptureWindow, bundle: Bundle, labels: pd.DataFrame | None, cfg: MonitorConfig,
            as_of: datetime, window_start: datetime | None = None, window_end: datetime | None = None,
            quality_window: CaptureWindow | None = None) -> MonitorReport:
    """Every section of the report for an already-read capture window.

    Drift and operations look at `window` (recent traffic); quality looks at `quality_window` (default
    the same), which should reach back far enough for some of its traffic to have mature labels.
    """
    scored_all = window.scored
    versions = {str(k): int(v) for k, v in scored_all["model_version"].value_counts().items()}
    scored = scored_all[scored_all["model_version"] == bundle.version]
    if len(scored_all) and not len(scored):
        raise MonitorError(f"the capture holds no scored records from model version {bundle.version!r} "
                           f"(the bundle monitored); versions found: {versions}. Pass that version's bundle.")
    drift = compute_drift(bundle.profile, scored, scored["score"].to_numpy(), bundle.schema, cfg.drift)
    ops = compute_operations(window, cfg.operations, cfg.capture)
    reference = QualityReference.from_bundle(bundle.metrics, bundle.thresholds, bundle.profile)
    q_scored = scored
    if quality_window is not None:
        q_scored = quality_window.scored[quality_window.scored["model_version"] == bundle.version]
    quality = compute_quality(q_scored, labels, as_of, bundle.thresholds.review, reference, cfg.quality)
    signals = [*drift.signals, *ops.signals, *quality.signals]
    return MonitorReport(bundle.version, window_start.isoformat() if window_start else None,
                         window_end.isoformat() if window_end else None, window.summary(), versions, drift, ops,
                         quality, verdict(signals), signals)


def run_monitor(capture: str, bundle: Bundle, labels: pd.DataFrame | None, cfg: MonitorConfig,
                as_of: datetime | None = None, window_days: float | None = None,
                window_end: datetime | None = None) -> MonitorReport:
    """Read the capture window ending at `window_end` (default: `as_of`, default now) and analyse it.

    `window_days` None means the config's; 0 means the whole capture (no time filter) for every
    section. Otherwise quality reads `quality.lookback_days` of traffic up to the same end.
    """
    as_of = as_of or datetime.now(timezone.utc)
    days = cfg.capture.window_days if window_days is None else window_days
    end = window_end or as_of
    start = end - timedelta(days=days) if days else None
    window = read_capture(capture, bundle.schema, start, end if days else None, cfg.capture.max_bad_examples)
    quality_window = None
    if days and cfg.quality.lookback_days > days:
        quality_window = read_capture(capture, bundle.schema, end - timedelta(days=cfg.quality.lookback_days), end,
                                      cfg.capture.max_bad_examples)
    return analyse(window, bundle, labels, cfg, as_of, start, end if days else None, quality_window)
