"""CloudWatch alarms: the three that guard a rollout, and the monitoring ones that page people.

Rollout guards (named in the blue/green AutoRollbackConfiguration, so SageMaker rolls a canary back
by itself when one fires during the bake time):
- 5xx rate: `AWS/SageMaker Invocation5XXErrors`, statistic Average. SageMaker sends 1 per 5xx and
  0 otherwise, so the Average is the share of requests that failed.
- model latency: `AWS/SageMaker ModelLatency`, ExtendedStatistic p99 (CloudWatch reports microseconds).
- invalid input: `PayLink/Fraud InvalidInputRate`, the share of requests the service rejected with a
  4xx. A new model whose schema disagrees with live traffic shows up here before it shows up as fraud.

Monitoring alarms, on metrics MonitorFlow publishes to `PayLink/Fraud/Monitoring` (dimension
`EndpointName`): `DriftMaxPSI`, `MissingRateShift` and `AlertRateRatio` (too high and too low).
They notify (SNS, when configured) but do not roll back: drift is a reason to retrain, not a deploy
failure, and it is measured over hours, not during a ten-minute bake.

The metric contract (namespaces, names, dimensions) is also written down in docs/aws-notes.md for the
serving and monitoring code that publishes these metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.config import DeployConfig

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
SERVICE_NAMESPACE = "PayLink/Fraud"
MONITORING_NAMESPACE = "PayLink/Fraud/Monitoring"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as put_metric_alarm parameters."""

    name: str
    namespace: str
    metric: str
    comparison: str
    threshold: float
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    dimensions: tuple[tuple[str, str], ...]
    description: str
    statistic: str | None = None
    extended_statistic: str | None = None
    rollback: bool = False

    def request(self, topic_arn: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            # No traffic (or no monitoring run yet) is not a failure.
            "TreatMissingData": "notBreaching",
            "AlarmActions": [topic_arn] if topic_arn else [],
            "OKActions": [topic_arn] if topic_arn else [],
        }
        if self.extended_statistic:
            params["ExtendedStatistic"] = self.extended_statistic
        else:
            params["Statistic"] = self.statistic
        return params


def alarm_specs(cfg: DeployConfig) -> list[AlarmSpec]:
    """Every alarm for the configured endpoint, rollout guards first."""
    a, ep = cfg.alarms, cfg.endpoint
    variant_dims = (("EndpointName", ep.name), ("VariantName", ep.variant_name))
    endpoint_dims = (("EndpointName", ep.name),)
    fast = dict(period=a.period_seconds, evaluation_periods=a.evaluation_periods,
                datapoints_to_alarm=a.datapoints_to_alarm)
    slow = dict(period=a.monitoring_period_seconds, evaluation_periods=1, datapoints_to_alarm=1)
    above, below = "GreaterThanThreshold", "LessThanThreshold"
    return [
        AlarmSpec(f"{ep.name}-5xx-rate", SAGEMAKER_NAMESPACE, "Invocation5XXErrors", above, a.error_5xx_rate,
                  dimensions=variant_dims, statistic="Average", rollback=True,
                  description=f"Share of invocations answered 5xx above {a.error_5xx_rate:g}", **fast),
        AlarmSpec(f"{ep.name}-model-latency-p99", SAGEMAKER_NAMESPACE, "ModelLatency", above,
                  a.model_latency_p99_ms * 1000.0, dimensions=variant_dims, extended_statistic="p99",
                  rollback=True, description=f"Model latency p99 above {a.model_latency_p99_ms:g} ms", **fast),
        AlarmSpec(f"{ep.name}-invalid-input-rate", SERVICE_NAMESPACE, "InvalidInputRate", above,
                  a.invalid_input_rate, dimensions=variant_dims, statistic="Average", rollback=True,
                  description=f"Share of requests rejected as invalid above {a.invalid_input_rate:g}", **fast),
        AlarmSpec(f"{ep.name}-drift-max-psi", MONITORING_NAMESPACE, "DriftMaxPSI", above, a.drift_max_psi,
                  dimensions=endpoint_dims, statistic="Maximum",
                  description=f"Largest feature PSI against the training reference above {a.drift_max_psi:g}",
                  **slow),
        AlarmSpec(f"{ep.name}-missing-rate-shift", MONITORING_NAMESPACE, "MissingRateShift", above,
                  a.missing_rate_shift, dimensions=endpoint_dims, statistic="Maximum",
                  description=f"Largest change in a feature's missing rate above {a.missing_rate_shift:g}",
                  **slow),
        AlarmSpec(f"{ep.name}-alert-rate-high", MONITORING_NAMESPACE, "AlertRateRatio", above,
                  a.alert_rate_ratio_high, dimensions=endpoint_dims, statistic="Maximum",
                  description=f"Alert rate above {a.alert_rate_ratio_high:g}x the reference", **slow),
        AlarmSpec(f"{ep.name}-alert-rate-low", MONITORING_NAMESPACE, "AlertRateRatio", below,
                  a.alert_rate_ratio_low, dimensions=endpoint_dims, statistic="Minimum",
                  description=f"Alert rate below {a.alert_rate_ratio_low:g}x the reference", **slow),
    ]


def rollback_alarm_names(cfg: DeployConfig) -> list[str]:
    """The alarms a blue/green update watches during its bake time."""
    return [s.name for s in alarm_specs(cfg) if s.rollback]


def _matches(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(existing.get(k, [] if isinstance(v, list) else None) == v for k, v in wanted.items()
               if k != "AlarmName")


def ensure_alarms(cloudwatch: Any, cfg: DeployConfig) -> list[str]:
    """Create missing alarms and update changed ones; return every alarm name.

    An alarm that already matches is left alone, so a deploy never touches an alarm's state history.
    """
    specs = alarm_specs(cfg)
    wanted = {s.name: s.request(cfg.alarms.notification_topic_arn) for s in specs}
    existing = {a["AlarmName"]: a for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNames=list(wanted), AlarmTypes=["MetricAlarm"]) for a in page.get("MetricAlarms", [])}
    for name, request in wanted.items():
        if name not in existing or not _matches(existing[name], request):
            cloudwatch.put_metric_alarm(**request)
    return list(wanted)
