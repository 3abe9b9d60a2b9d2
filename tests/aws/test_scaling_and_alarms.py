"""Autoscaling registration and alarms, as the emulator holds them after a deploy."""
from __future__ import annotations

from deploy.alarms import ensure_alarms
from deploy.autoscaling import PREDEFINED_METRIC, SCALABLE_DIMENSION
from deploy.sagemaker import deploy_bundle


def test_deploy_registers_target_tracking_autoscaling(aws, make_bundle):
    aws.queue_answers(make_bundle("61"))
    deploy_bundle(aws.clients, aws.cfg, make_bundle("61"), reason="first")
    aas = aws.clients.autoscaling
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/paylink-fraud/variant/AllTraffic"
    assert target["ScalableDimension"] == SCALABLE_DIMENSION
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 8)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == PREDEFINED_METRIC
    assert tracking["TargetValue"] == 90000.0
    assert (tracking["ScaleOutCooldown"], tracking["ScaleInCooldown"]) == (60, 600)


def test_alarms_watch_the_right_metrics(aws):
    names = ensure_alarms(aws.clients.cloudwatch, aws.cfg)
    alarms = {a["AlarmName"]: a for a in aws.clients.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert len(alarms) == 7

    def metric(name):
        a = alarms[f"paylink-fraud-{name}"]
        dims = {d["Name"]: d["Value"] for d in a["Dimensions"]}
        stat = a.get("ExtendedStatistic") or a.get("Statistic")
        return a["Namespace"], a["MetricName"], stat, a["ComparisonOperator"], a["Threshold"], dims

    variant = {"EndpointName": "paylink-fraud", "VariantName": "AllTraffic"}
    endpoint = {"EndpointName": "paylink-fraud"}
    assert metric("5xx-rate") == ("AWS/SageMaker", "Invocation5XXErrors", "Average", "GreaterThanThreshold", 0.01, variant)
    assert metric("model-latency-p99") == ("AWS/SageMaker", "ModelLatency", "p99", "GreaterThanThreshold", 25000.0, variant)
    assert metric("invalid-input-rate") == ("PayLink/Fraud", "InvalidInputRate", "Average", "GreaterThanThreshold", 0.05, variant)
    monitoring = "PayLink/Fraud/Monitoring"
    assert metric("drift-max-psi") == (monitoring, "DriftMaxPSI", "Maximum", "GreaterThanThreshold", 0.25, endpoint)
    assert metric("missing-rate-shift") == (monitoring, "MissingRateShift", "Maximum", "GreaterThanThreshold", 0.1, endpoint)
    assert metric("alert-rate-high") == (monitoring, "AlertRateRatio", "Maximum", "GreaterThanThreshold", 2.0, endpoint)
    assert metric("alert-rate-low") == (monitoring, "AlertRateRatio", "Minimum", "LessThanThreshold", 0.5, endpoint)


def test_alarms_fire_on_published_monitoring_metrics(aws):
    """A value MonitorFlow would publish reaches the alarm's metric (same namespace, name, dimensions)."""
    ensure_alarms(aws.clients.cloudwatch, aws.cfg)
    cw = aws.admin.cloudwatch
    cw.put_metric_data(Namespace="PayLink/Fraud/Monitoring", MetricData=[
        {"MetricName": "DriftMaxPSI", "Value": 0.4, "Dimensions": [{"Name": "EndpointName", "Value": "paylink-fraud"}]}])
    (alarm,) = cw.describe_alarms(AlarmNames=["paylink-fraud-drift-max-psi"])["MetricAlarms"]
    listed = cw.list_metrics(Namespace=alarm["Namespace"], MetricName=alarm["MetricName"],
                             Dimensions=alarm["Dimensions"])["Metrics"]
    assert len(listed) == 1 and 0.4 > alarm["Threshold"]


def test_unchanged_alarms_are_not_rewritten(aws):
    """Re-running ensure_alarms keeps alarm state (a deploy must not reset a firing alarm)."""
    cw = aws.clients.cloudwatch
    ensure_alarms(cw, aws.cfg)
    with aws.emulator.force_alarm(aws.admin.cloudwatch, "paylink-fraud-5xx-rate"):
        ensure_alarms(cw, aws.cfg)
        (alarm,) = cw.describe_alarms(AlarmNames=["paylink-fraud-5xx-rate"])["MetricAlarms"]
        assert alarm["StateValue"] == "ALARM"


def test_new_alarms_start_with_insufficient_data_as_on_aws(aws):
    """AWS starts an alarm at INSUFFICIENT_DATA until it has evaluated data (moto alone starts it OK)."""
    names = ensure_alarms(aws.clients.cloudwatch, aws.cfg)
    states = {a["StateValue"] for a in aws.admin.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert states == {"INSUFFICIENT_DATA"}
