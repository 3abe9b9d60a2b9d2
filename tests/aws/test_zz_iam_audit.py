"""IAM that is proven: every AWS call each role made in this session's AWS tests, judged by deploy/iam.

Named test_zz_ so it runs after the rest of tests/aws (pytest's default order), over the request log the one
session emulator kept. Run alone, there is no log to judge and it skips; the evaluator's own tests run always.
"""
from __future__ import annotations

import pytest

from aws.iam_audit import ROLE_KEYS, Call, allowed, calls_of, denied, policy_of


# Which collected tests exercise which roles: when they ran, the audit must have seen those roles' calls.
ROLES_OF_TESTS = {"test_monitor_roles.py": {"batch-job", "monitor"},
                  "test_weekly_retraining_on_step_functions": {"schedule-creator", "step-functions", "eventbridge"},
                  "test_trainflow_on_the_s3_datastore": {"batch-job"},
                  "test_deployflow_puts_the_latest_passed_run_live": {"deploy-job"},
                  "test_online_kinesis.py": {"ingest"}, "test_online_ingest_aws.py": {"ingest"},
                  "test_scheduled_runs_record_their_metadata_in_the_service": {"schedule-creator"}}


def test_every_call_of_every_role_is_allowed_by_its_policy(aws_emulator, request):
    calls = calls_of(list(aws_emulator.requests))
    roles = {c.role for c in calls}
    if "deployer" not in roles:
        pytest.skip("no deployer calls logged: run the whole tests/aws suite for the audit")
    problems = denied(calls)
    report = "\n".join(f"{c.role}: {c.action} on {c.resource} {dict(c.context) or ''} ({c.origin})"
                       for c in problems)
    assert problems == [], f"{len(problems)} call(s) not allowed by their role's policy in deploy/iam:\n{report}"
    # The audit saw every role's code path that ran (a role missing here means its calls went unjudged).
    expected = {"deployer", "sagemaker-execution"}
    for item in request.session.items:
        expected |= next((r for name, r in ROLES_OF_TESTS.items() if name in item.nodeid), set())
    assert expected <= roles, f"no calls recorded for {sorted(expected - roles)}"


def test_the_audit_sees_each_named_gap_in_the_old_policies():
    """Each gap issue 17 names, as a call the policies before it would have refused and now allow."""
    bucket, account = "arn:aws:s3:::paylink-fraud-artifacts", "123456789012"
    deploy_run_data = Call("deployer", "s3:PutObject", f"{bucket}/metaflow/DeployFlow/data/ab/abcdef")
    monitor_start = Call("eventbridge", "states:StartExecution",
                         f"arn:aws:states:us-east-1:{account}:stateMachine:paylink_fraud.user.paylink-dev.MonitorFlow")
    read_capture = Call("batch-job", "s3:GetObject", f"{bucket}/capture/service/2026-01-01/00/w.jsonl")
    metrics = Call("batch-job", "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "PayLink/Fraud/Monitoring"),))
    target_tracking = Call("deployer", "cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:us-east-1:{account}:alarm:"
                           "TargetTracking-endpoint/paylink-fraud/variant/AllTraffic-AlarmHigh-0b1c")
    for call in (deploy_run_data, monitor_start, read_capture, metrics, target_tracking):
        assert denied([call]) == [], call
    assert denied([Call("batch-job", "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "Other"),))])
    assert denied([Call("deployer", "s3:PutObject", f"{bucket}/metaflow/TrainFlow/data/ab/abcdef")])
    assert set(ROLE_KEYS) <= {"deployer", "batch-job", "deploy-job", "schedule-creator", "monitor", "ingest"}
    assert policy_of("schedule-creator") and policy_of("monitor") and policy_of("ingest") and policy_of("deploy-job")


@pytest.mark.parametrize("statement, action, resource, context, expected", [
    ({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/x/*"}, "s3:GetObject", "arn:aws:s3:::b/x/k",
     {}, True),
    ({"Effect": "Allow", "Action": "s3:get*", "Resource": "arn:aws:s3:::b/x/*"}, "s3:GetObject", "arn:aws:s3:::b/y/k",
     {}, False),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "iam:PassRole", "arn:aws:iam::1:role/r", {}, False),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "s3:GetObject", "arn:aws:s3:::b/k", {}, True),
    ({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
      "Condition": {"StringLike": {"s3:prefix": ["models/*"]}}}, "s3:ListBucket", "arn:aws:s3:::b",
     {"s3:prefix": "models/1/"}, True),
    ({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
      "Condition": {"StringLike": {"s3:prefix": ["models/*"]}}}, "s3:ListBucket", "arn:aws:s3:::b", {}, False),
    ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/r?",
      "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}, "iam:PassRole",
     "arn:aws:iam::1:role/r1", {"iam:PassedToService": "states.amazonaws.com"}, False),
])
def test_the_evaluator(statement, action, resource, context, expected):
    assert allowed([{"Statement": [statement]}], action, resource, context) is expected


def test_an_explicit_deny_wins():
    doc = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                         {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/keep/*"}]}
    assert allowed([doc], "s3:PutObject", "arn:aws:s3:::b/keep/x")
    assert not allowed([doc], "s3:DeleteObject", "arn:aws:s3:::b/keep/x")
    with pytest.raises(ValueError, match="NumericLessThan"):
        allowed([{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                 "Condition": {"NumericLessThan": {"k": "1"}}}]}], "s3:GetObject", "x", {"k": "0"})


def test_model_package_kinesis_and_batch_item_calls_are_judged_on_their_arns():
    """The ARNs IAM checks for the chain's and the online store's calls (none of them falls back to "*")."""
    from moto.kinesis.utils import compose_shard_iterator

    from aws.iam_audit import _resources

    sm = "arn:aws:sagemaker:us-east-1:123456789012"
    assert _resources("sagemaker", "CreateModelPackageGroup", {"ModelPackageGroupName": "paylink-fraud"}) == [
        f"{sm}:model-package-group/paylink-fraud"]
    assert _resources("sagemaker", "CreateModelPackage", {"ModelPackageGroupName": "paylink-fraud-drill"}) == [
        f"{sm}:model-package/paylink-fraud-drill/1"]
    assert _resources("sagemaker", "UpdateModelPackage", {"ModelPackageArn": f"{sm}:model-package/g/3"}) == [
        f"{sm}:model-package/g/3"]
    stream = "arn:aws:kinesis:us-east-1:123456789012:stream/paylink-fraud-events"
    assert _resources("kinesis", "ListShards", {"StreamName": "paylink-fraud-events"}) == [stream]
    shard = type("Shard", (), {"shard_id": "shardId-000000000000"})()
    iterator = compose_shard_iterator("paylink-fraud-events", shard, 0)
    assert _resources("kinesis", "GetRecords", {"ShardIterator": iterator}) == [stream]
    assert _resources("dynamodb", "BatchGetItem", {"RequestItems": {"t": {}}}) == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/t"]
    ingest = policy_of("ingest")
    assert allowed(ingest, "kinesis:GetRecords", stream)
    assert not allowed(ingest, "kinesis:PutRecords", stream)  # producers put events, ingest only reads
    real_group = f"{sm}:model-package-group/paylink-fraud"   # only the drill's group may be deleted
    assert not allowed(policy_of("deployer"), "sagemaker:DeleteModelPackageGroup", real_group)


def test_training_jobs_cannot_deploy_and_deployflow_cannot_rewrite_training():
    """Why DeployFlow has its own Batch job role: least privilege both ways (deploy/iam/README.md)."""
    batch, job = policy_of("batch-job"), policy_of("deploy-job")
    sm, bucket = "arn:aws:sagemaker:us-east-1:123456789012", "arn:aws:s3:::paylink-fraud-artifacts"
    for action, resource in (("sagemaker:CreateModel", f"{sm}:model/paylink-fraud-1-abc"),
                             ("sagemaker:UpdateEndpoint", f"{sm}:endpoint/paylink-fraud"),
                             ("cloudwatch:PutMetricAlarm", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
                                                           "paylink-fraud-5xx-rate"),
                             ("s3:PutObject", f"{bucket}/deploy-history/paylink-fraud/1.json")):
        assert allowed(job, action, resource) and not allowed(batch, action, resource), action
    pass_execution_role = ("iam:PassRole", "arn:aws:iam::123456789012:role/paylink-fraud-sagemaker-execution",
                           {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert allowed(job, *pass_execution_role) and not allowed(batch, *pass_execution_role)
    train_data = f"{bucket}/metaflow/TrainFlow/data/ab/abcdef"
    assert allowed(job, "s3:GetObject", train_data) and not allowed(job, "s3:PutObject", train_data)
    assert allowed(job, "s3:PutObject", f"{bucket}/metaflow/DeployFlow/data/ab/abcdef")
    assert not allowed(job, "sagemaker:UpdateModelPackage", f"{sm}:model-package/paylink-fraud/3")  # a person's
    assert denied([Call("schedule-creator", "iam:PassRole", "arn:aws:iam::123456789012:role/paylink-fraud-deploy-job")]) == []
