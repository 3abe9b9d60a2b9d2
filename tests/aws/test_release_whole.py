"""Releases that roll back whole and are checked before traffic (issue 17, items 5 and 6), on the emulator."""
from __future__ import annotations

import pytest

from deploy.behaviour import behaviour_reference
from deploy.cleanup import clean_up
from deploy.config import load_deploy_config
from deploy.image import pin_image
from deploy.sagemaker import DeployError, deploy_bundle, rollback
from fraudcore.bundle import load_bundle



def _deploy(aws, bundle, reason="test"):
    aws.queue_answers(bundle)
    return deploy_bundle(aws.clients, aws.cfg, bundle, reason=reason)


def test_the_model_pins_the_image_by_digest(aws, make_bundle):
    """A tag in the config is resolved through ECR: the Model holds repo@sha256, not the moving tag."""
    digest = aws.clients.ecr.describe_images(repositoryName="paylink-fraud-serving")["imageDetails"][0]["imageDigest"]
    result = _deploy(aws, make_bundle("801"))
    image = aws.clients.sagemaker.describe_model(ModelName=result.staged.model_name)["PrimaryContainer"]["Image"]
    assert image == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/paylink-fraud-serving@{digest}"
    assert result.staged.image_uri == image and ":release" not in image


def test_a_new_image_under_the_same_tag_is_a_new_release(aws, make_bundle):
    """Re-pushing the tag moves it; the same run then gets a new Model, and the old one keeps its digest."""
    first = _deploy(aws, make_bundle("811"))
    manifest = ('{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", '
                '"config": {"digest": "sha256:' + "d" * 64 + '", "size": 2, "mediaType": '
                '"application/vnd.docker.container.image.v1+json"}, "layers": [{"digest": "sha256:' + "e" * 64 +
                '", "size": 3, "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}]}')
    # CI pushes the image (the harness here), not the deployer
    aws.admin.ecr.put_image(repositoryName="paylink-fraud-serving", imageManifest=manifest, imageTag="release")
    second = _deploy(aws, make_bundle("811"))
    assert second.staged.model_name != first.staged.model_name
    assert second.staged.image_uri != first.staged.image_uri and "@sha256:" in second.staged.image_uri
    live = aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointConfigName"]
    assert live == second.staged.endpoint_config_name != first.staged.endpoint_config_name


def test_an_unresolvable_tag_is_refused_before_any_sagemaker_call(aws, make_bundle):
    cfg = load_deploy_config(overrides={"model": {"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
                                                                "paylink-fraud-serving:no-such-tag"}})
    with pytest.raises(DeployError, match=r"tag 'no-such-tag' could not be resolved to a digest.*A tag alone is "
                                          r"refused"):
        deploy_bundle(aws.clients, cfg, make_bundle("821"), reason="test")
    assert aws.clients.sagemaker.list_models()["Models"] == []
    pinned = "123456789012.dkr.ecr.us-east-1.amazonaws.com/paylink-fraud-serving@sha256:" + "a" * 64
    assert pin_image(aws.clients.ecr, pinned) == pinned  # a digest needs no lookup


def test_cleanup_keeps_what_rollback_needs_and_deletes_the_rest(aws, make_bundle):
    """keep_releases = 2: after four releases the live one and the two before it stay; rollback still works.

    Resources of other endpoints and untagged ones are never touched."""
    sm, role = aws.admin.sagemaker, aws.cfg.model.execution_role_arn   # made by others, outside the deployer
    sm.create_model(ModelName="paylink-fraud-handmade", ExecutionRoleArn=role, PrimaryContainer={"Image": "x"})
    sm.create_model(ModelName="other-endpoint-model", ExecutionRoleArn=role, PrimaryContainer={"Image": "x"},
                    Tags=[{"Key": "paylink:run-id", "Value": "1"}])
    results = [_deploy(aws, make_bundle(f"83{i}"), f"release {i}") for i in range(4)]
    configs = {c["EndpointConfigName"] for c in aws.clients.sagemaker.list_endpoint_configs()["EndpointConfigs"]}
    models = {m["ModelName"] for m in aws.clients.sagemaker.list_models()["Models"]}
    assert configs == {r.staged.endpoint_config_name for r in results[1:]}
    assert models == {r.staged.model_name for r in results[1:]} | {"paylink-fraud-handmade", "other-endpoint-model"}
    # Two rollbacks in a row reach exactly what was kept.
    for expected in ("832", "831"):
        aws.queue_answers(make_bundle(expected))
        assert rollback(aws.clients, aws.cfg, reason="drill").run_id == expected
    # After rolling back, a clean-up never deletes the config now live.
    clean_up(aws.clients, aws.cfg)
    live = aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointConfigName"]
    assert live == results[1].staged.endpoint_config_name
    assert live in {c["EndpointConfigName"] for c in aws.clients.sagemaker.list_endpoint_configs()["EndpointConfigs"]}


def test_behaviour_alarms_watch_the_new_version_against_its_reference(aws, make_bundle):
    bundle = load_bundle(make_bundle("851"))
    ref = behaviour_reference(bundle)
    assert 0.0 < ref.alert_rate < 1.0 and 0.0 <= ref.decline_rate <= ref.alert_rate + 0.05
    assert 0.0 < ref.score_mean < 1.0
    _deploy(aws, make_bundle("850"))
    _deploy(aws, make_bundle("851"))
    (call,) = aws.emulator.update_endpoint_calls
    rollback_set = {a["AlarmName"] for a in call.deployment_config["AutoRollbackConfiguration"]["Alarms"]}
    alarms = {a["AlarmName"]: a for a in aws.clients.cloudwatch.describe_alarms(
        AlarmNamePrefix="paylink-fraud-canary-")["MetricAlarms"]}
    high = alarms["paylink-fraud-canary-alert-rate-high"]
    assert high["AlarmName"] in rollback_set and high["Namespace"] == "PayLink/Fraud"
    assert {d["Name"]: d["Value"] for d in high["Dimensions"]} == {
        "EndpointName": "paylink-fraud", "ModelVersion": "851", "VariantName": "AllTraffic"}
    assert high["Threshold"] == pytest.approx(max(ref.alert_rate * aws.cfg.alarms.alert_rate_ratio_high, 0.005))
    mean_low = alarms["paylink-fraud-canary-score-mean-low"]
    assert mean_low["Threshold"] == pytest.approx(ref.score_mean * aws.cfg.alarms.alert_rate_ratio_low)
    # The no-traffic alarm: missing data is the failure it reports; it notifies, it does not roll back.
    quiet = alarms["paylink-fraud-canary-no-traffic"]
    assert quiet["TreatMissingData"] == "breaching" and quiet["MetricName"] == "Requests"
    assert quiet["Statistic"] == "Sum" and quiet["Threshold"] == aws.cfg.release.canary_min_requests
    assert quiet["Period"] == aws.cfg.rollout.canary_bake_seconds
    assert quiet["AlarmName"] not in rollback_set


def test_a_behaviour_alarm_rolls_the_canary_back(aws, make_bundle):
    """The emulator's stand-in rolls back when any named alarm is in ALARM: a behaviour alarm is one of them."""
    first = _deploy(aws, make_bundle("860"))
    aws.queue_answers(make_bundle("861"))
    aws.admin.cloudwatch.put_metric_alarm(  # as deploy/behaviour.py will write it, already firing
        AlarmName="paylink-fraud-canary-decline-rate-high", Namespace="PayLink/Fraud", MetricName="DeclineRate",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=0.5, ComparisonOperator="GreaterThanThreshold")
    original = aws.clients.cloudwatch.put_metric_alarm

    def put_and_fire(**params):  # the decline alarm fires as soon as the canary is live
        original(**params)
        if params["AlarmName"].endswith("decline-rate-high"):
            aws.admin.cloudwatch.set_alarm_state(AlarmName=params["AlarmName"], StateValue="ALARM",  # CloudWatch's part
                                                   StateReason="declines 40x the reference")
    object.__setattr__(aws.clients, "cloudwatch", _Proxy(aws.clients.cloudwatch, put_metric_alarm=put_and_fire))
    with pytest.raises(DeployError, match=r"rolled the canary of run '861' back.*decline-rate-high.*'860'.*still live"):
        deploy_bundle(aws.clients, aws.cfg, make_bundle("861"), reason="test")
    live = aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointConfigName"]
    assert live == first.staged.endpoint_config_name


class _Proxy:
    def __init__(self, inner, **overrides):
        self._inner, self._overrides = inner, overrides

    def __getattr__(self, name):
        return self._overrides.get(name) or getattr(self._inner, name)

