"""One monitoring run: capture + bundle + labels in, every figure, every signal and the verdict out.

`monitor` is the sequence `fraud monitor run` and MonitorFlow share; `run_monitor` and `analyse` are its
parts for callers that already hold the bundle (the demo) or the traffic (the sweep).
"""
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
from fraudcore.monitoring.quality import QualityReference, QualityResult, compute_quality, load_labels
from fraudcore.monitoring.signals import Signal, verdict
from fraudcore.registry.store import resolve_bundle


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


@dataclass(frozen=True)
class MonitorWindow:
    """When a monitoring run looks: the time it pretends it is, and how much traffic it reads."""

    as_of: datetime | None = None   # labels later than this are not used; None: now
    days: float | None = None       # traffic up to `end`; None: the config's capture.window_days; 0: all of it
    end: datetime | None = None     # end of the traffic window; None: `as_of`


@dataclass(frozen=True)
class Traffic:
    """Captured traffic read for one run: recent traffic for drift and operations, older traffic for quality."""

    recent: CaptureWindow
    start: datetime | None = None
    end: datetime | None = None
    for_quality: CaptureWindow | None = None  # reaching back far enough for mature labels; None: `recent`


@dataclass(frozen=True)
class MonitorJob:
    """One monitoring run as a person asks for it, from `fraud monitor run` or MonitorFlow."""

    capture: str                    # capture folder or s3://bucket/prefix
    bundle: str = "champion"        # bundle directory, model.tar.gz, TrainFlow run id or 'champion'
    labels: str = ""                # labels file (parquet/csv/jsonl); "": no labels yet
    window: MonitorWindow = field(default_factory=MonitorWindow)


def analyse(traffic: Traffic, bundle: Bundle, labels: pd.DataFrame | None, cfg: MonitorConfig,
            as_of: datetime) -> MonitorReport:
    """Every section of the report for already-read traffic.

    Drift and operations look at `traffic.recent`; quality looks at `traffic.for_quality` (default the
    same), which should reach back far enough for some of its traffic to have mature labels.
    """
    window = traffic.recent
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
    if traffic.for_quality is not None:
        q_scored = traffic.for_quality.scored[traffic.for_quality.scored["model_version"] == bundle.version]
    quality = compute_quality(q_scored, labels, as_of, bundle.thresholds.review, reference, cfg.quality)
    signals = [*drift.signals, *ops.signals, *quality.signals]
    return MonitorReport(bundle.version, traffic.start.isoformat() if traffic.start else None,
                         traffic.end.isoformat() if traffic.end else None, window.summary(), versions, drift, ops,
                         quality, verdict(signals), signals)


def run_monitor(capture: str, bundle: Bundle, labels: pd.DataFrame | None, cfg: MonitorConfig,
                window: MonitorWindow = MonitorWindow()) -> MonitorReport:
    """Read the capture window ending at `window.end` (default: `as_of`, default now) and analyse it.

    `window.days` None means the config's; 0 means the whole capture (no time filter) for every
    section. Otherwise quality reads `quality.lookback_days` of traffic up to the same end.
    """
    as_of = window.as_of or datetime.now(timezone.utc)
    days = cfg.capture.window_days if window.days is None else window.days
    end = window.end or as_of
    start = end - timedelta(days=days) if days else None
    recent = read_capture(capture, bundle.schema, start, end if days else None, cfg.capture.max_bad_examples)
    for_quality = None
    if days and cfg.quality.lookback_days > days:
        for_quality = read_capture(capture, bundle.schema, end - timedelta(days=cfg.quality.lookback_days), end,
                                   cfg.capture.max_bad_examples)
    return analyse(Traffic(recent, start, end if days else None, for_quality), bundle, labels, cfg, as_of)


def monitor(job: MonitorJob, cfg: MonitorConfig) -> MonitorReport:
    """The monitoring sequence `fraud monitor run` and MonitorFlow share: resolve the bundle, read the
    labels, read and analyse the capture."""
    bundle = resolve_bundle(job.bundle)
    labels = load_labels(job.labels) if job.labels else None
    return run_monitor(job.capture, bundle, labels, cfg, job.window)
