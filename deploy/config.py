"""The deployment config as typed, frozen dataclasses, read from `config/deploy.toml`.

Built by the project's one config loader (fraudcore/config_loader.py). These dataclasses have no
defaults: every key is required and `config/deploy.toml` is the one place each value lives (a misspelt
key must not silently fall back to a default). Unknown and missing keys are errors naming the key and
the file; types and ranges are checked on construction, so a bad value fails before any AWS call.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudcore.config_loader import ConfigFile, check_types, need
from fraudcore.registry.lookup import ENVIRONMENTS  # one champion each

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")  # SageMaker resource names
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$")
_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_PREFIX_RULE = "must be an S3 key prefix without leading or trailing '/'"
# Model and endpoint-config names are "<endpoint>-<run id>-<8 hex>" and must fit SageMaker's 63 chars.
MAX_ENDPOINT_NAME = 24


def _between(key: str, value: float, lo: float, hi: float) -> None:
    need(lo <= value <= hi, key, f"must be between {lo:g} and {hi:g}", value)


def _match(key: str, value: str, pattern: re.Pattern[str], what: str) -> None:
    need(bool(pattern.match(value)), key, f"must be {what}", value)


@dataclass(frozen=True)
class ModelConfig:
    image_uri: str
    execution_role_arn: str
    # where the container's checkout form reads features: "dynamodb:<table>" (the template's OnlineStoreTable)
    # or "none" (the features form only); passed to the container as PAYLINK_ONLINE_STORE
    online_store: str = "none"

    def __post_init__(self) -> None:
        check_types(self, "model")
        need(self.online_store == "none" or bool(re.fullmatch(r"dynamodb:[A-Za-z0-9_.-]{3,255}", self.online_store)),
             "model.online_store", "must be 'none' or 'dynamodb:<table name>'", self.online_store)
        _match("model.image_uri", self.image_uri, _IMAGE,
               "an ECR image URI '<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>' or '<repo>@sha256:<digest>'")
        _match("model.execution_role_arn", self.execution_role_arn, _ROLE_ARN,
               "an IAM role ARN 'arn:aws:iam::<account>:role/<name>'")


@dataclass(frozen=True)
class StorageConfig:
    bucket: str
    model_prefix: str
    history_prefix: str
    capture_prefix: str
    capture_sampling_percent: int

    def __post_init__(self) -> None:
        check_types(self, "storage")
        _match("storage.bucket", self.bucket, _BUCKET, "an S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        for key in ("model_prefix", "history_prefix", "capture_prefix"):
            need(bool(_PREFIX.match(getattr(self, key))), f"storage.{key}", _PREFIX_RULE, getattr(self, key))
        _between("storage.capture_sampling_percent", self.capture_sampling_percent, 0, 100)

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
class EndpointConfig:
    name: str
    variant_name: str
    instance_type: str
    initial_instance_count: int
    environment: str

    def __post_init__(self) -> None:
        check_types(self, "endpoint")
        need(self.environment in ENVIRONMENTS, "endpoint.environment", f"must be one of {ENVIRONMENTS}",
             self.environment)
        need(bool(_NAME.match(self.name)) and len(self.name) <= MAX_ENDPOINT_NAME, "endpoint.name",
             f"must be letters, digits and '-' (not leading/trailing), at most {MAX_ENDPOINT_NAME} chars", self.name)
        _match("endpoint.variant_name", self.variant_name, _NAME, "letters, digits and '-' (not leading/trailing)")
        _match("endpoint.instance_type", self.instance_type, _INSTANCE,
               "a SageMaker instance type such as 'ml.c5.large'")
        _between("endpoint.initial_instance_count", self.initial_instance_count, 1, 100)


@dataclass(frozen=True)
class ScalingConfig:
    min_instances: int
    max_instances: int
    target_invocations_per_instance: float
    scale_out_cooldown_seconds: int
    scale_in_cooldown_seconds: int

    def __post_init__(self) -> None:
        check_types(self, "scaling")
        need(2 <= self.min_instances <= 100, "scaling.min_instances",
             "must be >= 2 (one instance per AZ, so one can fail) and <= 100", self.min_instances)
        _between("scaling.max_instances", self.max_instances, 2, 100)
        need(self.target_invocations_per_instance > 0, "scaling.target_invocations_per_instance",
             "must be > 0 (invocations per instance per minute)", self.target_invocations_per_instance)
        _between("scaling.scale_out_cooldown_seconds", self.scale_out_cooldown_seconds, 0, 3600)
        _between("scaling.scale_in_cooldown_seconds", self.scale_in_cooldown_seconds, 0, 3600)
        need(self.max_instances >= self.min_instances, "scaling.max_instances",
             f"must be >= scaling.min_instances ({self.min_instances})", self.max_instances)


@dataclass(frozen=True)
class RolloutConfig:
    canary_percent: int
    canary_bake_seconds: int
    termination_wait_seconds: int
    max_execution_seconds: int
    waiter_delay_seconds: int
    waiter_max_attempts: int
    smoke_requests: int

    def __post_init__(self) -> None:
        check_types(self, "rollout")
        _between("rollout.canary_percent", self.canary_percent, 1, 50)
        _between("rollout.canary_bake_seconds", self.canary_bake_seconds, 0, 3600)
        _between("rollout.termination_wait_seconds", self.termination_wait_seconds, 0, 3600)
        _between("rollout.max_execution_seconds", self.max_execution_seconds, 600, 28800)
        _between("rollout.waiter_delay_seconds", self.waiter_delay_seconds, 1, 300)
        _between("rollout.waiter_max_attempts", self.waiter_max_attempts, 1, 1000)
        _between("rollout.smoke_requests", self.smoke_requests, 1, 100)
        wait = self.canary_bake_seconds + self.termination_wait_seconds
        need(self.max_execution_seconds >= wait, "rollout.max_execution_seconds",
             f"must be >= canary_bake_seconds + termination_wait_seconds ({wait})", self.max_execution_seconds)


@dataclass(frozen=True)
class AlarmsConfig:
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

    def __post_init__(self) -> None:
        check_types(self, "alarms")
        p = self.period_seconds
        need(p in (10, 30) or (p >= 60 and p % 60 == 0), "alarms.period_seconds",
             "must be 10, 30 or a multiple of 60", p)
        _between("alarms.evaluation_periods", self.evaluation_periods, 1, 100)
        _between("alarms.datapoints_to_alarm", self.datapoints_to_alarm, 1, 100)
        for key in ("error_5xx_rate", "invalid_input_rate", "missing_rate_shift"):
            need(0 < getattr(self, key) <= 1, f"alarms.{key}", "must be a share in (0, 1]", getattr(self, key))
        need(0 < self.model_latency_p99_ms <= 60000, "alarms.model_latency_p99_ms",
             "must be in (0, 60000] ms (the 60 s invocation limit)", self.model_latency_p99_ms)
        m = self.monitoring_period_seconds
        need(60 <= m <= 86400 and m % 60 == 0, "alarms.monitoring_period_seconds",
             "must be a multiple of 60 up to 86400", m)
        need(self.drift_max_psi > 0, "alarms.drift_max_psi", "must be > 0", self.drift_max_psi)
        need(self.alert_rate_ratio_high > 1, "alarms.alert_rate_ratio_high", "must be > 1", self.alert_rate_ratio_high)
        need(0 < self.alert_rate_ratio_low < 1, "alarms.alert_rate_ratio_low", "must be in (0, 1)",
             self.alert_rate_ratio_low)
        need(self.notification_topic_arn == "" or bool(_TOPIC_ARN.match(self.notification_topic_arn)),
             "alarms.notification_topic_arn", "must be '' or an SNS topic ARN", self.notification_topic_arn)
        need(self.datapoints_to_alarm <= self.evaluation_periods, "alarms.datapoints_to_alarm",
             f"must be <= alarms.evaluation_periods ({self.evaluation_periods})", self.datapoints_to_alarm)


# ---- Releases, approval and shadow (issue 17, part B) ------------------------------------------------

_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class ReleaseConfig:
    """How a release is checked before it takes traffic, and how many old releases are kept."""

    keep_releases: int         # earlier live releases whose Model and EndpointConfig are kept for rollback
    preflight: bool            # smoke test the new model on a temporary endpoint before the canary
    require_image_digest: bool  # refuse an image tag that cannot be resolved to a digest
    shadow_variant_name: str   # the ShadowProductionVariants name of `fraud deploy shadow`
    canary_min_requests: int   # the canary's model version must answer at least this many requests

    def __post_init__(self) -> None:
        check_types(self, "release")
        _between("release.keep_releases", self.keep_releases, 1, 50)
        _match("release.shadow_variant_name", self.shadow_variant_name, _NAME,
               "letters, digits and '-' (not leading/trailing)")
        _between("release.canary_min_requests", self.canary_min_requests, 1, 1_000_000)


@dataclass(frozen=True)
class ApprovalConfig:
    """The SageMaker Model Registry package group where trained runs wait for approval."""

    model_package_group: str

    def __post_init__(self) -> None:
        check_types(self, "approval")
        _match("approval.model_package_group", self.model_package_group, _GROUP,
               "a model package group name (letters, digits, '-', at most 63 chars)")


@dataclass(frozen=True)
class DeployConfig(ConfigFile):
    FILE = "deploy.toml"

    region: str
    model: ModelConfig
    storage: StorageConfig
    endpoint: EndpointConfig
    scaling: ScalingConfig
    rollout: RolloutConfig
    alarms: AlarmsConfig
    release: ReleaseConfig
    approval: ApprovalConfig

    def __post_init__(self) -> None:
        check_types(self, "")
        _match("region", self.region, _REGION, "an AWS region name such as 'us-east-1'")
        s, e = self.scaling, self.endpoint
        need(s.min_instances <= e.initial_instance_count <= s.max_instances, "endpoint.initial_instance_count",
             f"must be between scaling.min_instances ({s.min_instances}) and scaling.max_instances "
             f"({s.max_instances})", e.initial_instance_count)


def load_deploy_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> DeployConfig:
    """Load `config/deploy.toml` (or `path`), optionally with nested per-run overrides."""
    return DeployConfig.load(path, overrides)


def parse_deploy_toml(text: str) -> dict[str, Any]:
    """Metaflow `Config(parser=...)` for DeployFlow: the file checked before any step starts."""
    return DeployConfig.from_toml(text, "the deploy config").to_dict()
