"""Deploy, canary update, automatic rollback, smoke-test revert and refusal, against the emulator."""
from __future__ import annotations

import hashlib

import pytest

from deploy.alarms import rollback_alarm_names
from deploy.history import read_history
from deploy.sagemaker import DeployError, deploy_bundle
from fraudcore.bundle import BundleError


def _endpoint(aws):
    return aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)


def _deploy(aws, bundle, reason):
    aws.queue_answers(bundle)
    return deploy_bundle(aws.clients, aws.cfg, bundle, reason=reason)


def test_first_deploy_creates_model_config_and_endpoint(aws, make_bundle):
    bundle = make_bundle("1764000000000001")
    aws.queue_answers(bundle)
    result = deploy_bundle(aws.clients, aws.cfg, bundle, reason="first model")

    sm = aws.clients.sagemaker
    endpoint = _endpoint(aws)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == result.staged.endpoint_config_name
    assert "1764000000000001" in result.staged.model_name
    config = sm.describe_endpoint_config(EndpointConfigName=result.staged.endpoint_config_name)
    (variant,) = config["ProductionVariants"]
    assert (variant["VariantName"], variant["ModelName"]) == ("AllTraffic", result.staged.model_name)
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.large", 2)
    capture = config["DataCaptureConfig"]
    assert capture["DestinationS3Uri"] == "s3://paylink-fraud-artifacts/capture/sagemaker"
    assert capture["InitialSamplingPercentage"] == 100
    model = sm.describe_model(ModelName=result.staged.model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://paylink-fraud-artifacts/models/1764000000000001/model.tar.gz"
    environment = model["PrimaryContainer"]["Environment"]
    assert environment["PAYLINK_MODEL_VERSION"] == "1764000000000001"
    assert environment["PAYLINK_CAPTURE_URI"] == "s3://paylink-fraud-artifacts/capture/service"
    assert environment["PAYLINK_CAPTURE_SAMPLE"] == "1"
    # the container reaches the template's online store table (its role may only read it)
    assert environment["PAYLINK_ONLINE_STORE"] == "dynamodb:paylink-fraud-online"
    uploaded = aws.clients.s3.get_object(Bucket=aws.cfg.storage.bucket,
                                         Key="models/1764000000000001/model.tar.gz")["Body"].read()
    assert hashlib.sha256(uploaded).hexdigest() == result.staged.archive_sha256
    assert result.rollout.action == "created" and result.smoke.requests == 3
    assert aws.emulator.update_endpoint_calls == []
    (record,) = read_history(aws.clients.s3, aws.cfg)
    assert (record.event, record.outcome, record.run_id, record.previous_run_id) == ("deploy", "live", "1764000000000001", None)
    assert record.by == "paylink-dev" and record.reason == "first model"


def test_update_is_a_canary_with_auto_rollback_on_the_alarms(aws, make_bundle):
    first = _deploy(aws, make_bundle("101"), "first")
    second = _deploy(aws, make_bundle("102"), "weekly retrain")

    (call,) = aws.emulator.update_endpoint_calls
    assert call.outcome == "updated"
    assert call.previous_endpoint_config_name == first.staged.endpoint_config_name
    assert call.endpoint_config_name == second.staged.endpoint_config_name
    policy = call.deployment_config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}, "WaitIntervalInSeconds": 600}
    assert policy["TerminationWaitInSeconds"] == 300
    alarms = [a["AlarmName"] for a in call.deployment_config["AutoRollbackConfiguration"]["Alarms"]]
    assert alarms[:3] == ["paylink-fraud-5xx-rate", "paylink-fraud-model-latency-p99", "paylink-fraud-invalid-input-rate"]
    # ... and the new model's behaviour (deploy/behaviour.py), on its own model version.
    assert {f"paylink-fraud-canary-{m}-high" for m in ("alert-rate", "decline-rate", "score-mean")} <= set(alarms[3:])
    assert call.retain_all_variant_properties and call.exclude_retained_variant_properties == ("DataCaptureConfig",)
    endpoint = _endpoint(aws)
    assert endpoint["EndpointConfigName"] == second.staged.endpoint_config_name
    assert endpoint["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": a} for a in alarms]
    assert second.rollout.action == "updated" and second.rollout.previous_run_id == "101"
    last = read_history(aws.clients.s3, aws.cfg)[-1]
    assert (last.run_id, last.previous_run_id, last.outcome) == ("102", "101", "live")


def test_alarm_during_bake_leaves_the_previous_model_live(aws, make_bundle):
    first = _deploy(aws, make_bundle("201"), "first")
    alarm = rollback_alarm_names(aws.cfg)[0]
    with aws.emulator.force_alarm(aws.admin.cloudwatch, alarm, reason="5xx during canary"):
        aws.queue_answers(make_bundle("202"))  # the preflight passes; the canary then meets the alarm
        with pytest.raises(DeployError, match=r"rolled the canary of run '202' back.*run '201'.*still live"):
            deploy_bundle(aws.clients, aws.cfg, make_bundle("202"), reason="weekly retrain")
    # The drill leaves the alarm as it found it (moto's alarms never evaluate, so nothing else would).
    (after,) = aws.admin.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert after["StateValue"] == "INSUFFICIENT_DATA"
    assert _endpoint(aws)["EndpointConfigName"] == first.staged.endpoint_config_name
    assert aws.emulator.update_endpoint_calls[-1].outcome == "rolled-back"
    last = read_history(aws.clients.s3, aws.cfg)[-1]
    assert (last.run_id, last.outcome) == ("202", "auto-rolled-back") and "5xx-rate" in last.detail


def test_a_model_answering_nonsense_never_takes_traffic(aws, make_bundle):
    """The smoke test runs on the preflight endpoint before the canary: the live endpoint is never updated."""
    first = _deploy(aws, make_bundle("311"), "first")
    aws.queue_answers(make_bundle("312"), score=1.7)  # the new container answers nonsense
    with pytest.raises(DeployError, match=r"preflight of run '312'.*'score' must be a number in \[0, 1\]; got 1.7.*"
                                          r"'paylink-fraud' was not touched"):
        deploy_bundle(aws.clients, aws.cfg, make_bundle("312"), reason="weekly retrain")
    assert aws.emulator.update_endpoint_calls == []
    assert _endpoint(aws)["EndpointConfigName"] == first.staged.endpoint_config_name
    assert [r.outcome for r in read_history(aws.clients.s3, aws.cfg)] == ["live", "preflight-failed"]
    names = [e["EndpointName"] for e in aws.admin.sagemaker.list_endpoints()["Endpoints"]]
    assert names == ["paylink-fraud"]  # the preflight endpoint is gone
    assert not [c for c in aws.clients.sagemaker.list_endpoint_configs()["EndpointConfigs"]
                if "preflight" in c["EndpointConfigName"]]


def test_failed_smoke_test_reverts_to_the_previous_config(aws, make_bundle):
    first = _deploy(aws, make_bundle("301"), "first")
    aws.queue_answers(make_bundle("302"), live_only=True, score=1.7)  # right on preflight, nonsense when live
    with pytest.raises(DeployError, match=r"'score' must be a number in \[0, 1\]; got 1.7.*reverted .* run '301'"):
        deploy_bundle(aws.clients, aws.cfg, make_bundle("302"), reason="weekly retrain")
    assert _endpoint(aws)["EndpointConfigName"] == first.staged.endpoint_config_name
    canary, revert = aws.emulator.update_endpoint_calls
    assert canary.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert revert.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert "AutoRollbackConfiguration" not in revert.deployment_config
    assert [r.outcome for r in read_history(aws.clients.s3, aws.cfg)] == ["live", "reverted"]


def test_redeploying_the_live_run_changes_nothing(aws, make_bundle):
    bundle = make_bundle("401")
    first = _deploy(aws, bundle, "first")
    again = _deploy(aws, bundle, "again")
    assert again.staged == first.staged and again.rollout.action == "unchanged"
    assert aws.emulator.update_endpoint_calls == []
    assert len(aws.admin.sagemaker.list_models()["Models"]) == 1


def test_tampered_bundle_is_refused_and_nothing_changes(aws, make_bundle):
    _deploy(aws, make_bundle("501"), "first")
    before = _endpoint(aws)
    tampered = make_bundle("502")
    (tampered / "model.txt").write_text((tampered / "model.txt").read_text().replace("leaf_value=", "leaf_value=1"))
    with pytest.raises(BundleError, match=r"model.txt checksum mismatch: manifest says [0-9a-f]{64}, file has"):
        deploy_bundle(aws.clients, aws.cfg, tampered, reason="sneaky")
    after = _endpoint(aws)
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert after["LastModifiedTime"] == before["LastModifiedTime"]
    assert len(aws.admin.sagemaker.list_models()["Models"]) == 1
    assert aws.emulator.update_endpoint_calls == []
    assert aws.clients.s3.list_objects_v2(Bucket=aws.cfg.storage.bucket, Prefix="models/502/")["KeyCount"] == 0
    assert len(read_history(aws.clients.s3, aws.cfg)) == 1


def test_smoke_test_catches_the_wrong_model_behind_the_endpoint(aws, make_bundle):
    first = _deploy(aws, make_bundle("601"), "first")
    aws.queue_answers(make_bundle("601"))  # the new config still serves the old model
    with pytest.raises(DeployError, match=r"request 0: the endpoint answered for model_version '601'; expected "
                                          r"run '602'.*not touched.*601"):
        deploy_bundle(aws.clients, aws.cfg, make_bundle("602", logit_offset=-1.5), reason="weekly retrain")
    # Right version label, wrong scores (say, a stale model file under the new name).
    aws.queue_answers(make_bundle("601"), model_version="603")
    with pytest.raises(DeployError, match=r"answered score .* but run '603' scores .*not serving this model"):
        deploy_bundle(aws.clients, aws.cfg, make_bundle("603", logit_offset=-1.5), reason="weekly retrain")
    assert _endpoint(aws)["EndpointConfigName"] == first.staged.endpoint_config_name


def test_failed_smoke_test_on_a_new_endpoint_is_recorded(aws, make_bundle):
    aws.queue_answers(make_bundle("701"), decision="maybe")
    with pytest.raises(DeployError, match=r"'decision' must be one of .*got 'maybe'.*no earlier config.*run '701'"):
        deploy_bundle(aws.clients, aws.cfg, make_bundle("701"), reason="first")
    (record,) = read_history(aws.clients.s3, aws.cfg)
    assert (record.run_id, record.outcome) == ("701", "failed") and "maybe" in record.detail
