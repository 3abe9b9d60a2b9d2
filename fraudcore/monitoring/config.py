"""Monitoring thresholds: one frozen, typed config, read from `config/monitor.toml`.

Every default lives here and only here; `config/monitor.toml` holds only the choices that differ (see
fraudcore/config_loader.py for the shared rules: unknown keys are errors naming the key and the file,
types and ranges are checked on construction), so a typo in the file fails the run instead of silently
disabling a signal. Why each default is what it is: docs/monitoring-notes.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraudcore.config_loader import ConfigFile, check_types, need, positive, share


@dataclass(frozen=True)
class CaptureConfig:
    window_days: float = 1.0      # a daily run looks at the last day of traffic
    sample_rate: float = 1.0      # share of successful requests the server captures (failures: all of them)
    max_bad_examples: int = 20    # bad capture lines quoted in the report, per run

    def __post_init__(self) -> None:
        check_types(self, "capture")
        positive("capture.window_days", self.window_days)
        share("capture.sample_rate", self.sample_rate)
        need(self.max_bad_examples >= 0, "capture.max_bad_examples", "must be an int >= 0", self.max_bad_examples)


@dataclass(frozen=True)
class DriftConfig:
    min_rows: int = 1000               # fewer live rows and PSI is mostly sampling noise: not judged
    psi_moderate: float = 0.10         # rule of thumb: < 0.10 stable, 0.10-0.25 moderate
    psi_major: float = 0.25            # > 0.25 major shift: a signal (same as deploy's DriftMaxPSI alarm)
    missing_shift_max: float = 0.10    # absolute change of a feature's missing rate: a feed outage
    score_psi_major: float = 0.25      # the model's output distribution moved
    alert_rate_ratio_high: float = 2.0  # twice the expected alerts floods the review queue
    alert_rate_ratio_low: float = 0.5   # half the expected alerts: the model has gone quiet
    # Features that move with the calendar by construction (ages grow every day, holidays come and go):
    # shown in the drift table, never a signal on their own.
    expected_to_move_groups: tuple[str, ...] = ("time",)
    expected_to_move_features: tuple[str, ...] = ("merchant_age_days",)
    # Merchant attributes are constant per merchant and month, so a few big merchants dominate their
    # histograms: a natural month moves their PSI far more than a row-level feature's (measured up to 0.45).
    clustered_groups: tuple[str, ...] = ("merchant",)
    psi_major_clustered: float = 0.5

    def psi_limit(self, group: str) -> float:
        """The PSI signal threshold for a feature of `group`."""
        return self.psi_major_clustered if group in self.clustered_groups else self.psi_major

    def __post_init__(self) -> None:
        check_types(self, "drift")
        need(self.min_rows >= 1, "drift.min_rows", "must be an int >= 1", self.min_rows)
        for key in ("psi_moderate", "psi_major", "score_psi_major", "psi_major_clustered"):
            positive(f"drift.{key}", getattr(self, key))
        need(self.psi_major >= self.psi_moderate, "drift.psi_major", f"must be >= drift.psi_moderate "
             f"({self.psi_moderate})", self.psi_major)
        share("drift.missing_shift_max", self.missing_shift_max)
        need(self.alert_rate_ratio_high > 1, "drift.alert_rate_ratio_high", "must be > 1", self.alert_rate_ratio_high)
        need(0 < self.alert_rate_ratio_low < 1, "drift.alert_rate_ratio_low", "must be in (0, 1)",
             self.alert_rate_ratio_low)
        for key in ("expected_to_move_groups", "expected_to_move_features", "clustered_groups"):
            value = getattr(self, key)
            need(all(value), f"drift.{key}", "must be a list of names", value)


@dataclass(frozen=True)
class OperationsConfig:
    bucket_minutes: int = 60           # latency and throughput are shown per hour
    latency_p99_ms_max: float = 25.0   # same bound as the rollout guard's ModelLatency p99 alarm
    failure_rate_max: float = 0.05     # share of requests rejected (4xx) or failed
    bad_line_rate_max: float = 0.01    # share of capture lines that could not be read
    min_requests: int = 1              # no traffic at all: a dead endpoint or a broken capture

    def __post_init__(self) -> None:
        check_types(self, "operations")
        need(self.min_requests >= 0, "operations.min_requests", "must be an int >= 0", self.min_requests)
        need(1 <= self.bucket_minutes <= 1440, "operations.bucket_minutes", "must be an int in [1, 1440]",
             self.bucket_minutes)
        positive("operations.latency_p99_ms_max", self.latency_p99_ms_max)
        share("operations.failure_rate_max", self.failure_rate_max)
        share("operations.bad_line_rate_max", self.bad_line_rate_max)


@dataclass(frozen=True)
class QualityConfig:
    window_days: float = 7.0           # quality is reported per week of traffic
    # ...over this much past traffic: a day-old window has no labels yet, and windows 45-120 days old
    # are the mature ones
    lookback_days: float = 120.0
    label_delay_median_days: float = 21.0  # chargebacks: lognormal delay, median three weeks
    label_delay_sigma: float = 0.6     # ... 90% within ~45 days
    min_maturity: float = 0.9          # judge a window once 90% of its chargebacks are expected in
    min_positives: int = 40            # fewer labelled frauds and PR-AUC is too noisy to judge
    pr_auc_ratio_min: float = 0.75     # live PR-AUC below 75% of the bundle's holdout PR-AUC: retrain
    recall_drop_max: float = 0.15      # recall at the live threshold 0.15 below the holdout's: retrain
    precision_ratio_min: float = 0.5   # precision below half the precision floor: the queue is mostly noise
    # A quality signal needs the drop to hold at the top of the live figure's one-sided interval at this
    # confidence (bootstrap for PR-AUC, Wilson for recall and precision): small windows need bigger drops.
    confidence: float = 0.8
    bootstrap_rounds: int = 200

    def __post_init__(self) -> None:
        check_types(self, "quality")
        need(0.5 <= self.confidence < 1, "quality.confidence", "must be a probability in [0.5, 1)", self.confidence)
        need(20 <= self.bootstrap_rounds <= 10_000, "quality.bootstrap_rounds", "must be an int in [20, 10000]",
             self.bootstrap_rounds)
        for key in ("window_days", "lookback_days", "label_delay_median_days", "label_delay_sigma"):
            positive(f"quality.{key}", getattr(self, key))
        share("quality.min_maturity", self.min_maturity)
        need(self.min_positives >= 2, "quality.min_positives", "must be an int >= 2", self.min_positives)
        share("quality.pr_auc_ratio_min", self.pr_auc_ratio_min)
        share("quality.recall_drop_max", self.recall_drop_max)
        share("quality.precision_ratio_min", self.precision_ratio_min)


@dataclass(frozen=True)
class PublishConfig:
    namespace: str = "PayLink/Fraud/Monitoring"
    endpoint_name: str = "paylink-fraud"  # must equal [endpoint] name in config/deploy.toml (a test checks it)

    def __post_init__(self) -> None:
        check_types(self, "publish")
        need(bool(self.namespace) and not self.namespace.startswith("AWS/"), "publish.namespace",
             "must be a non-empty namespace not starting with 'AWS/'", self.namespace)
        need(bool(self.endpoint_name), "publish.endpoint_name", "must be a non-empty string", self.endpoint_name)


@dataclass(frozen=True)
class MonitorConfig(ConfigFile):
    FILE = "monitor.toml"

    capture: CaptureConfig = field(default_factory=CaptureConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    operations: OperationsConfig = field(default_factory=OperationsConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)

    def __post_init__(self) -> None:
        check_types(self, "")


def load_monitor_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> MonitorConfig:
    """Read `path` (default config/monitor.toml) with nested per-run `overrides` laid over it."""
    return MonitorConfig.load(path, overrides)


def parse_monitor_toml(text: str) -> dict[str, Any]:
    """Metaflow `Config(parser=...)` for MonitorFlow: the file checked, every default filled in."""
    return MonitorConfig.from_toml(text, "the monitor config").to_dict()
