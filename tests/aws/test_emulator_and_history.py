"""The emulator's UpdateEndpoint stand-in refuses what SageMaker refuses; the history's rollback order."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from aws.iam_audit import harness_session
from deploy.history import DeployRecord, HistoryError, live_stack, rollback_target


def _endpoint_with_two_configs(sm, variant_b="AllTraffic"):
    for name, variant in (("m-a", "AllTraffic"), ("m-b", variant_b)):
        sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})
        sm.create_endpoint_config(EndpointConfigName=f"c-{name}", ProductionVariants=[
            {"VariantName": variant, "ModelName": name, "InstanceType": "ml.c5.large", "InitialInstanceCount": 2}])
    sm.create_endpoint(EndpointName="e", EndpointConfigName="c-m-a")


def _canary(alarms):
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}, "WaitIntervalInSeconds": 60}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]}}


def test_update_endpoint_stand_in_refuses_like_sagemaker(aws_emulator):
    aws_emulator.reset()
    sm = harness_session().client("sagemaker")
    _endpoint_with_two_configs(sm, variant_b="Other")
    with pytest.raises(ClientError, match="alarms that do not exist: \\['missing-alarm'\\]"):
        sm.update_endpoint(EndpointName="e", EndpointConfigName="c-m-b", DeploymentConfig=_canary(["missing-alarm"]))
    harness_session().client("cloudwatch").put_metric_alarm(
        AlarmName="a1", Namespace="AWS/SageMaker", MetricName="ModelLatency", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    with pytest.raises(ClientError, match="needs the same variant names"):
        sm.update_endpoint(EndpointName="e", EndpointConfigName="c-m-b", DeploymentConfig=_canary(["a1"]))
    with pytest.raises(ClientError, match="Could not find endpoint configuration 'c-nope'"):
        sm.update_endpoint(EndpointName="e", EndpointConfigName="c-nope")
    assert [c.outcome for c in aws_emulator.update_endpoint_calls] == ["rejected"] * 3
    assert sm.describe_endpoint(EndpointName="e")["EndpointConfigName"] == "c-m-a"
    # All at once to another variant name is allowed (it is not a traffic-shifting canary).
    sm.update_endpoint(EndpointName="e", EndpointConfigName="c-m-b")
    assert sm.describe_endpoint(EndpointName="e")["EndpointConfigName"] == "c-m-b"


def _rec(event, run, outcome="live"):
    return DeployRecord(event=event, outcome=outcome, endpoint_name="e", run_id=run, previous_run_id=None,
                        model_name=f"m-{run}", endpoint_config_name=f"c-{run}", previous_endpoint_config_name=None,
                        model_data_url="s3://b/k", at="t", by="u", aws_identity="arn", reason="r", forced=False)


def test_rollback_walks_back_and_ignores_attempts_that_never_went_live():
    records = [_rec("deploy", "A"), _rec("deploy", "B"), _rec("deploy", "X", "auto-rolled-back"),
               _rec("deploy", "C"), _rec("deploy", "Y", "reverted")]
    assert [r.run_id for r in live_stack(records)] == ["A", "B", "C"]
    live, target = rollback_target(records)
    assert (live.run_id, target.run_id) == ("C", "B")
    records.append(_rec("rollback", "B"))
    assert rollback_target(records)[1].run_id == "A"
    records += [_rec("rollback", "A")]
    with pytest.raises(HistoryError, match="nothing to roll back to.*live run: 'A'"):
        rollback_target(records)
    with pytest.raises(ValueError, match="'outcome' must be one of"):
        _rec("deploy", "Z", "maybe")
