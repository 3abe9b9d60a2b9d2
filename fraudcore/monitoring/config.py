"""Monitoring thresholds: one frozen, typed config, read from `config/monitor.toml`.

Defaults live here and only here; the TOML file repeats them for readers and may override any of them.
Unknown sections or keys are an error, and every value is range-checked on construction, so a typo in
the file fails the run instead of silently disabling a signal. Why each default is what it is:
docs/monitoring-notes.md.
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "monitor.toml"


class MonitorConfigError(ValueError):
    """A monitoring config value that breaks a rule; the message names the key, the rule and the value."""


def _check(key: str, ok: bool, rule: str, value: Any) -> None:
    if not ok:
        raise MonitorConfigError(f"monitor config {key} must be {rule}; got {value!r}")


def _share(key: str, v: float, *, open_low: bool = True) -> None:
    _check(key, isinstance(v, (int, float)) and not isinstance(v, bool) and (0 < v <= 1 if open_low else 0 <= v <= 1),
           "a share in (0, 1]" if open_low else "a share in [0, 1]", v)


def _positive(key: str, v: float) -> None:
    _check(key, isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0, "> 0", v)


@dataclass(frozen=True)
class CaptureSettings:
    window_days: float = 1.0      # a daily run looks at the last day of traffic
    sample_rate: float = 1.0      # share of successful requests captured; failures are always captured
    max_bad_examples: int = 20

    def __post_init__(self) -> None:
        _positive("capture.window_days", self.window_days)
        _share("capture.sample_rate", self.sample_rate)
        _check("capture.max_bad_examples", isinstance(self.max_bad_examples, int) and self.max_bad_examples >= 0,
               "an integer >= 0", self.max_bad_examples)


@dataclass(frozen=True)
class DriftSettings:
    min_rows: int = 1000
    psi_moderate: float = 0.10
    psi_major: float = 0.25
    missing_shift_max: float = 0.10
    score_psi_major: float = 0.25
    alert_rate_ratio_high: float = 2.0
    alert_rate_ratio_low: float = 0.5
    expected_to_move_groups: tuple[str, ...] = ("time",)
    expected_to_move_features: tuple[str, ...] = ("merchant_age_days",)
    clustered_groups: tuple[str, ...] = ("merchant",)
    psi_major_clustered: float = 0.5

    def psi_limit(self, group: str) -> float:
        """The PSI signal threshold for a feature of `group`."""
        return self.psi_major_clustered if group in self.clustered_groups else self.psi_major

    def __post_init__(self) -> None:
        _check("drift.min_rows", isinstance(self.min_rows, int) and self.min_rows >= 1, "an integer >= 1",
               self.min_rows)
        for key in ("psi_moderate", "psi_major", "score_psi_major", "psi_major_clustered"):
            _positive(f"drift.{key}", getattr(self, key))
        _check("drift.psi_major", self.psi_major >= self.psi_moderate, f">= drift.psi_moderate ({self.psi_moderate})",
               self.psi_major)
        _share("drift.missing_shift_max", self.missing_shift_max)
        _check("drift.alert_rate_ratio_high", self.alert_rate_ratio_high > 1, "> 1", self.alert_rate_ratio_high)
        _check("drift.alert_rate_ratio_low", 0 < self.alert_rate_ratio_low < 1, "in (0, 1)",
               self.alert_rate_ratio_low)
        for key in ("expected_to_move_groups", "expected_to_move_features", "clustered_groups"):
            value = getattr(self, key)
            _check(f"drift.{key}", all(isinstance(v, str) and v for v in value), "a list of names", value)
            object.__setattr__(self, key, tuple(value))


@dataclass(frozen=True)
class OperationsSettings:
    bucket_minutes: int = 60
    latency_p99_ms_max: float = 25.0
    failure_rate_max: float = 0.05
    bad_line_rate_max: float = 0.01
    min_requests: int = 1          # a window without traffic means a dead endpoint or a broken capture

    def __post_init__(self) -> None:
        _check("operations.min_requests", isinstance(self.min_requests, int) and self.min_requests >= 0,
               "an integer >= 0", self.min_requests)
        _check("operations.bucket_minutes", isinstance(self.bucket_minutes, int) and 1 <= self.bucket_minutes <= 1440,
               "an integer in [1, 1440]", self.bucket_minutes)
        _positive("operations.latency_p99_ms_max", self.latency_p99_ms_max)
        _share("operations.failure_rate_max", self.failure_rate_max)
        _share("operations.bad_line_rate_max", self.bad_line_rate_max)


@dataclass(frozen=True)
class QualitySettings:
    window_days: float = 7.0
    lookback_days: float = 120.0   # quality reads this much older traffic: today's has no labels yet
    label_delay_median_days: float = 21.0
    label_delay_sigma: float = 0.6
    min_maturity: float = 0.9
    min_positives: int = 40
    pr_auc_ratio_min: float = 0.75
    recall_drop_max: float = 0.15
    precision_ratio_min: float = 0.5
    confidence: float = 0.8
    bootstrap_rounds: int = 200

    def __post_init__(self) -> None:
        _check("quality.confidence", isinstance(self.confidence, float) and 0.5 <= self.confidence < 1,
               "a probability in [0.5, 1)", self.confidence)
        _check("quality.bootstrap_rounds", isinstance(self.bootstrap_rounds, int) and 20 <= self.bootstrap_rounds
               <= 10_000, "an integer in [20, 10000]", self.bootstrap_rounds)
        for key in ("window_days", "lookback_days", "label_delay_median_days", "label_delay_sigma"):
            _positive(f"quality.{key}", getattr(self, key))
        _share("quality.min_maturity", self.min_maturity)
        _check("quality.min_positives", isinstance(self.min_positives, int) and self.min_positives >= 2,
               "an integer >= 2", self.min_positives)
        _share("quality.pr_auc_ratio_min", self.pr_auc_ratio_min)
        _share("quality.recall_drop_max", self.recall_drop_max)
        _share("quality.precision_ratio_min", self.precision_ratio_min)


@dataclass(frozen=True)
class PublishSettings:
    namespace: str = "PayLink/Fraud/Monitoring"
    endpoint_name: str = "paylink-fraud"

    def __post_init__(self) -> None:
        _check("publish.namespace", isinstance(self.namespace, str) and bool(self.namespace)
               and not self.namespace.startswith("AWS/"), "a non-empty namespace not starting with 'AWS/'",
               self.namespace)
        _check("publish.endpoint_name", isinstance(self.endpoint_name, str) and bool(self.endpoint_name),
               "a non-empty string", self.endpoint_name)


@dataclass(frozen=True)
class MonitorConfig:
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    operations: OperationsSettings = field(default_factory=OperationsSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    publish: PublishSettings = field(default_factory=PublishSettings)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: {g.name: (list(v) if isinstance(v := getattr(getattr(self, f.name), g.name), tuple) else v)
                         for g in fields(getattr(self, f.name))} for f in fields(self)}


def monitor_config_from_dict(data: Mapping[str, Any]) -> MonitorConfig:
    """Build a MonitorConfig from nested sections; unknown sections and keys are errors."""
    sections = {f.name: f for f in fields(MonitorConfig)}
    unknown = set(data) - set(sections)
    if unknown:
        raise MonitorConfigError(f"monitor config: unknown sections {sorted(unknown)}; allowed: {sorted(sections)}")
    built: dict[str, Any] = {}
    for name, f in sections.items():
        cls = f.default_factory  # type: ignore[misc]
        raw = data.get(name, {})
        if not isinstance(raw, Mapping):
            raise MonitorConfigError(f"monitor config [{name}] must be a table; got {type(raw).__name__}")
        allowed = {g.name for g in fields(cls)}
        extra = set(raw) - allowed
        if extra:
            raise MonitorConfigError(f"monitor config [{name}]: unknown keys {sorted(extra)}; allowed: {sorted(allowed)}")
        try:
            built[name] = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        except TypeError as err:
            raise MonitorConfigError(f"monitor config [{name}]: {err}") from err
    return MonitorConfig(**built)


def load_monitor_config(path: str | Path | None = None,
                        overrides: Mapping[str, Mapping[str, Any]] | None = None) -> MonitorConfig:
    """Read `path` (default config/monitor.toml) and apply per-section `overrides`."""
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not p.is_file():
        raise FileNotFoundError(f"monitor config file not found: {p}")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise MonitorConfigError(f"monitor config {p} is not valid TOML: {err}") from err
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    return monitor_config_from_dict(data)


def with_overrides(cfg: MonitorConfig, **sections: Mapping[str, Any]) -> MonitorConfig:
    """A copy of `cfg` with some keys of some sections replaced (checked like the file)."""
    return replace(cfg, **{name: replace(getattr(cfg, name), **values) for name, values in sections.items()})
