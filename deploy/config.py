"""The deployment settings as typed, frozen dataclasses, read from `config/deploy.toml`.

The TOML file is the one place each value lives: the dataclasses have no defaults, every key is
required, and an unknown key is an error (a misspelt key must not silently fall back to a default).
Ranges are checked on construction, so a bad value fails before any AWS call is made.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, get_type_hints

DEFAULT_DEPLOY_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "deploy.toml"

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")  # SageMaker resource names
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$")
_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# Model and endpoint-config names are "<endpoint>-<run id>-<8 hex>" and must fit SageMaker's 63 chars.
MAX_ENDPOINT_NAME = 24


class DeployConfigError(ValueError):
    """A deployment setting is missing, unknown, of the wrong type or out of range."""


def _rule(key: str, ok: bool, rule: str, value: Any) -> None:
    if not ok:
        raise DeployConfigError(f"deploy config '{key}' must be {rule}; got {value!r}")


def _between(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: lo <= v <= hi), f"between {lo:g} and {hi:g}"


def _match(pattern: re.Pattern[str], what: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: bool(pattern.match(v))), what


# Per-key range/format rules; types come from the dataclass annotations.
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "region": _match(_REGION, "an AWS region name such as 'us-east-1'"),
    "model.image_uri": _match(_IMAGE, "an ECR image URI '<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>'"),
    "model.execution_role_arn": _match(_ROLE_ARN, "an IAM role ARN 'arn:aws:iam::<account>:role/<name>'"),
    "storage.bucket": _match(_BUCKET, "an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"),
    "storage.model_prefix": _match(_PREFIX, "an S3 key prefix without leading or trailing '/'"),
    "storage.history_prefix": _match(_PREFIX, "an S3 key prefix without leading or trailing '/'"),
    "storage.capture_prefix": _match(_PREFIX, "an S3 key prefix without leading or trailing '/'"),
    "storage.capture_sampling_percent": _between(0, 100),
    "endpoint.name": ((lambda v: bool(_NAME.match(v)) and len(v) <= MAX_ENDPOINT_NAME),
                      f"letters, digits and '-' (not leading/trailing), at most {MAX_ENDPOINT_NAME} chars"),
    "endpoint.variant_name": _match(_NAME, "letters, digits and '-' (not leading/trailing)"),
    "endpoint.instance_type": _match(_INSTANCE, "a SageMaker instance type such as 'ml.c5.large'"),
    "endpoint.initial_instance_count": _between(1, 100),
    "scaling.min_instances": ((lambda v: 2 <= v <= 100), ">= 2 (one instance per AZ, so one can fail) and <= 100"),
    "scaling.max_instances": _between(2, 100),
    "scaling.target_invocations_per_instance": ((lambda v: v > 0), "> 0 (invocations per instance per minute)"),
    "scaling.scale_out_cooldown_seconds": _between(0, 3600),
    "scaling.scale_in_cooldown_seconds": _between(0, 3600),
    "rollout.canary_percent": _between(1, 50),
    "rollout.canary_bake_seconds": _between(0, 3600),
    "rollout.termination_wait_seconds": _between(0, 3600),
    "rollout.max_execution_seconds": _between(600, 28800),
    "rollout.waiter_delay_seconds": _between(1, 300),
    "rollout.waiter_max_attempts": _between(1, 1000),
    "rollout.smoke_requests": _between(1, 100),
    "alarms.period_seconds": ((lambda v: v in (10, 30) or (v >= 60 and v % 60 == 0)), "10, 30 or a multiple of 60"),
    "alarms.evaluation_periods": _between(1, 100),
    "alarms.datapoints_to_alarm": _between(1, 100),
    "alarms.error_5xx_rate": ((lambda v: 0 < v <= 1), "a share in (0, 1]"),
    "alarms.model_latency_p99_ms": ((lambda v: 0 < v <= 60000), "in (0, 60000] ms (the 60 s invocation limit)"),
    "alarms.invalid_input_rate": ((lambda v: 0 < v <= 1), "a share in (0, 1]"),
    "alarms.monitoring_period_seconds": ((lambda v: v >= 60 and v % 60 == 0 and v <= 86400),
                                         "a multiple of 60 up to 86400"),
    "alarms.drift_max_psi": ((lambda v: v > 0), "> 0"),
    "alarms.missing_rate_shift": ((lambda v: 0 < v <= 1), "a share in (0, 1]"),
    "alarms.alert_rate_ratio_high": ((lambda v: v > 1), "> 1"),
    "alarms.alert_rate_ratio_low": ((lambda v: 0 < v < 1), "in (0, 1)"),
    "alarms.notification_topic_arn": ((lambda v: v == "" or bool(_TOPIC_ARN.match(v))), "'' or an SNS topic ARN"),
}


@dataclass(frozen=True)
class ModelSettings:
    image_uri: str
    execution_role_arn: str


@dataclass(frozen=True)
class StorageSettings:
    bucket: str
    model_prefix: str
    history_prefix: str
    capture_prefix: str
    capture_sampling_percent: int

    def model_key(self, run_id: str) -> str:
        return f"{self.model_prefix}/{run_id}/model.tar.gz"

    @property
    def service_capture_uri(self) -> str:
        """Where the serving container writes capture records in the contract format (MonitorFlow's input)."""
        return f"s3://{self.bucket}/{self.capture_prefix}/service"

    @property
    def sagemaker_capture_uri(self) -> str:
        """Where SageMaker's own DataCaptureConfig writes (its format, under <endpoint>/<variant>/yyyy/mm/dd/hh)."""
        return f"s3://{self.bucket}/{self.capture_prefix}/sagemaker"


@dataclass(frozen=True)
class EndpointSettings:
    name: str
    variant_name: str
    instance_type: str
    initial_instance_count: int


@dataclass(frozen=True)
class ScalingSettings:
    min_instances: int
    max_instances: int
    target_invocations_per_instance: float
    scale_out_cooldown_seconds: int
    scale_in_cooldown_seconds: int


@dataclass(frozen=True)
class RolloutSettings:
    canary_percent: int
    canary_bake_seconds: int
    termination_wait_seconds: int
    max_execution_seconds: int
    waiter_delay_seconds: int
    waiter_max_attempts: int
    smoke_requests: int


@dataclass(frozen=True)
class AlarmSettings:
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    error_5xx_rate: float
    model_latency_p99_ms: float
    invalid_input_rate: float
    monitoring_period_seconds: int
    drift_max_psi: float
    missing_rate_shift: float
    alert_rate_ratio_high: float
    alert_rate_ratio_low: float
    notification_topic_arn: str


@dataclass(frozen=True)
class DeployConfig:
    region: str
    model: ModelSettings
    storage: StorageSettings
    endpoint: EndpointSettings
    scaling: ScalingSettings
    rollout: RolloutSettings
    alarms: AlarmSettings

    def __post_init__(self) -> None:
        s, e, r, a = self.scaling, self.endpoint, self.rollout, self.alarms
        _rule("scaling.max_instances", s.max_instances >= s.min_instances,
              f">= scaling.min_instances ({s.min_instances})", s.max_instances)
        _rule("endpoint.initial_instance_count", s.min_instances <= e.initial_instance_count <= s.max_instances,
              f"between scaling.min_instances ({s.min_instances}) and scaling.max_instances ({s.max_instances})",
              e.initial_instance_count)
        _rule("rollout.max_execution_seconds", r.max_execution_seconds >= r.canary_bake_seconds + r.termination_wait_seconds,
              f">= canary_bake_seconds + termination_wait_seconds ({r.canary_bake_seconds + r.termination_wait_seconds})",
              r.max_execution_seconds)
        _rule("alarms.datapoints_to_alarm", a.datapoints_to_alarm <= a.evaluation_periods,
              f"<= alarms.evaluation_periods ({a.evaluation_periods})", a.datapoints_to_alarm)


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "the top level"
    if not isinstance(data, dict):
        raise DeployConfigError(f"deploy config '{prefix}' must be a table; got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise DeployConfigError(f"deploy config: unknown key(s) {unknown} in {where}; allowed: {names}")
    missing = [n for n in names if n not in data]
    if missing:
        raise DeployConfigError(f"deploy config: missing required key(s) {missing} in {where}")
    values: dict[str, Any] = {}
    for name in names:
        key = f"{prefix}.{name}" if prefix else name
        kind, value = hints[name], data[name]
        if is_dataclass(kind):
            values[name] = _build(kind, value, key)
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        _rule(key, isinstance(value, kind) and not isinstance(value, bool), f"of type {kind.__name__}", value)
        if key in _RULES:
            check, rule = _RULES[key]
            _rule(key, check(value), rule, value)
        values[name] = value
    return cls(**values)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def deploy_config_from_dict(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> DeployConfig:
    """Build and validate a DeployConfig; `overrides` is a nested dict laid over `data`."""
    return _build(DeployConfig, _merge(data, overrides or {}), "")


def load_deploy_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> DeployConfig:
    """Load `config/deploy.toml` (or `path`), optionally with nested per-run overrides."""
    p = Path(path) if path is not None else DEFAULT_DEPLOY_CONFIG_PATH
    if not p.exists():
        raise FileNotFoundError(f"deploy config file not found: {p}")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise DeployConfigError(f"deploy config {p}: not valid TOML: {err}") from err
    return deploy_config_from_dict(data, overrides)
