"""IAM documents and the CloudFormation template: parse, least privilege, lint clean, in sync."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cfnlint.api import decode_str, lint_all

from deploy.alarms import alarm_specs
from deploy.config import load_deploy_config

ROOT = Path(__file__).resolve().parents[2]
IAM = ROOT / "deploy" / "iam"
TEMPLATE = ROOT / "deploy" / "infra" / "template.yaml"
ROLES = {"sagemaker-execution": "sagemaker.amazonaws.com", "batch-job": "ecs-tasks.amazonaws.com",
         "step-functions": "states.amazonaws.com", "eventbridge": "events.amazonaws.com",
         "ingest": "ecs-tasks.amazonaws.com", "deploy-job": "ecs-tasks.amazonaws.com"}
# Actions AWS offers no resource-level permissions for: the only ones allowed on Resource "*"
# (deploy/iam/README.md names each, and the statement's Sid says so).
NO_RESOURCE_LEVEL = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "batch:DescribeJobs",
                     "batch:DescribeJobDefinitions", "batch:DescribeJobQueues", "batch:DescribeComputeEnvironments",
                     "states:ListStateMachines",
                     "application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy",
                     "application-autoscaling:DescribeScalableTargets",
                     "application-autoscaling:DescribeScalingPolicies",
                     # The release cleanup and the approval lookup (issue 17 part B): List* take no resource.
                     "sagemaker:ListModels", "sagemaker:ListEndpointConfigs", "sagemaker:ListModelPackages"}
SAMPLE = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "ArtifactBucketName": "paylink-fraud-artifacts", "EndpointName": "paylink-fraud",
          "ServingRepositoryName": "paylink-fraud-serving", "MetaflowDatastorePrefix": "metaflow",
          "MetaflowStepFunctionsTableName": "metaflow-sfn", "TrainStateMachineName": "paylink_fraud.prod.TrainFlow",
          "MonitorStateMachineName": "paylink_fraud.prod.MonitorFlow", "StateMachinePrefix": "paylink_fraud.prod",
          "BatchJobRole.Arn": "arn:aws:iam::123456789012:role/paylink-fraud-batch-job",
          "DeployJobRole.Arn": "arn:aws:iam::123456789012:role/paylink-fraud-deploy-job",
          "StepFunctionsRole.Arn": "arn:aws:iam::123456789012:role/paylink-fraud-step-functions",
          "EventBridgeRole.Arn": "arn:aws:iam::123456789012:role/paylink-fraud-eventbridge",
          "MetaflowJobQueueArn": "arn:aws:batch:us-east-1:123456789012:job-queue/metaflow",
          "SageMakerExecutionRole.Arn": "arn:aws:iam::123456789012:role/paylink-fraud-sagemaker-execution",
          "OnlineStoreTableName": "paylink-fraud-online", "EventStreamName": "paylink-fraud-events",
          "ModelPackageGroupName": "paylink-fraud", "EvaluateStateMachineName": "paylink_fraud.prod.EvaluateFlow",
          "DeployStateMachineName": "DeployFlow"}
ARN = re.compile(r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:[\w+=,.@/:*${}-]+$")


def _docs() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(IAM.glob("*.json"))}


def _substitute(text: str) -> str:
    out = re.sub(r"\$\{([^}]+)\}", lambda m: SAMPLE[m.group(1)], text)
    assert "${" not in out, out
    return out


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_every_role_has_a_trust_and_a_policy_document():
    names = set(_docs())
    for role, service in ROLES.items():
        assert {f"{role}-trust", f"{role}-policy"} <= names
        (statement,) = _docs()[f"{role}-trust"]["Statement"]
        assert statement["Principal"] == {"Service": service} and statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "${AWS::AccountId}"
    assert {"deployer-policy", "schedule-creator-policy", "monitor-policy"} <= names  # managed: no trust of their own


@pytest.mark.parametrize("name", sorted(p.stem for p in IAM.glob("*-policy.json")))
def test_policies_are_least_privilege(name):
    doc = _docs()[name]
    assert doc["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in doc["Statement"]]
    assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids)
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = _as_list(statement["Action"])
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z0-9]+", action), f"{name}/{statement['Sid']}: {action!r}"
        resources = _as_list(statement["Resource"])
        if resources == ["*"]:
            assert set(actions) <= NO_RESOURCE_LEVEL, f"{name}/{statement['Sid']} uses Resource '*' for {actions}"
        else:
            assert "*" not in resources
            for resource in resources:
                assert ARN.match(_substitute(resource)), f"{name}/{statement['Sid']}: {resource!r}"


def test_pass_role_is_limited_to_sagemaker():
    (statement,) = [s for s in _docs()["deployer-policy"]["Statement"] if "iam:PassRole" in s["Action"]]
    assert statement["Resource"] == ["${SageMakerExecutionRole.Arn}"]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_template_lints_clean():
    problems = [m for m in lint_all(TEMPLATE.read_text()) if m.rule.id[0] in "EW"]
    assert problems == [], "\n".join(str(m) for m in problems)


def _template() -> dict:
    template, errors = decode_str(TEMPLATE.read_text())
    assert not errors
    return template


def _wrap_subs(value):
    """The JSON document as the template must hold it: strings with ${...} become !Sub."""
    if isinstance(value, dict):
        return {k: _wrap_subs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_subs(v) for v in value]
    return {"Fn::Sub": value} if isinstance(value, str) and "${" in value else value


def test_template_embeds_the_iam_documents_unchanged():
    resources, docs = _template()["Resources"], _docs()
    for logical, role in [("SageMakerExecutionRole", "sagemaker-execution"), ("BatchJobRole", "batch-job"),
                          ("StepFunctionsRole", "step-functions"), ("EventBridgeRole", "eventbridge"),
                          ("IngestRole", "ingest"), ("DeployJobRole", "deploy-job")]:
        props = resources[logical]["Properties"]
        assert props["AssumeRolePolicyDocument"] == _wrap_subs(docs[f"{role}-trust"]), logical
        (policy,) = props["Policies"]
        assert policy["PolicyDocument"] == _wrap_subs(docs[f"{role}-policy"]), logical
    for logical, name in [("DeployerPolicy", "deployer"), ("ScheduleCreatorPolicy", "schedule-creator"),
                          ("MonitorPolicy", "monitor")]:
        assert resources[logical]["Properties"]["PolicyDocument"] == _wrap_subs(docs[f"{name}-policy"]), logical


def test_every_resource_star_is_named_in_the_iam_readme():
    readme = (IAM / "README.md").read_text()
    for name, doc in _docs().items():
        for statement in doc["Statement"]:
            if statement.get("Resource") == "*":
                for action in _as_list(statement["Action"]):
                    assert f"`{action}`" in readme, f"{name}/{statement['Sid']}: {action} not in deploy/iam/README.md"


def test_template_defaults_match_the_deploy_config():
    cfg = load_deploy_config()
    template = _template()
    defaults = {k: v.get("Default") for k, v in template["Parameters"].items()}
    s, a = cfg.scaling, cfg.alarms
    expected = {
        "ArtifactBucketName": cfg.storage.bucket, "EndpointName": cfg.endpoint.name,
        "VariantName": cfg.endpoint.variant_name, "MinInstances": s.min_instances, "MaxInstances": s.max_instances,
        "TargetInvocationsPerInstance": s.target_invocations_per_instance,
        "ScaleOutCooldownSeconds": s.scale_out_cooldown_seconds, "ScaleInCooldownSeconds": s.scale_in_cooldown_seconds,
        "AlarmPeriodSeconds": a.period_seconds, "AlarmEvaluationPeriods": a.evaluation_periods,
        "AlarmDatapointsToAlarm": a.datapoints_to_alarm, "Error5xxRate": a.error_5xx_rate,
        "ModelLatencyP99Microseconds": a.model_latency_p99_ms * 1000, "InvalidInputRate": a.invalid_input_rate,
        "MonitoringPeriodSeconds": a.monitoring_period_seconds, "DriftMaxPsi": a.drift_max_psi,
        "MissingRateShift": a.missing_rate_shift, "AlertRateRatioHigh": a.alert_rate_ratio_high,
        "AlertRateRatioLow": a.alert_rate_ratio_low, "NotificationTopicArn": a.notification_topic_arn,
        "ModelPackageGroupName": cfg.approval.model_package_group,
    }
    assert {k: float(defaults[k]) if isinstance(v, (int, float)) else defaults[k] for k, v in expected.items()} == \
        {k: float(v) if isinstance(v, (int, float)) else v for k, v in expected.items()}
    role_name = template["Resources"]["SageMakerExecutionRole"]["Properties"]["RoleName"]
    assert cfg.model.execution_role_arn.endswith(f":role/{role_name}")


def test_template_alarms_match_the_code():
    resources = _template()["Resources"]
    # the ingest service's alarms are the template's alone (tests/aws/test_ingest_service.py)
    alarms = {r["Properties"]["AlarmName"]["Fn::Sub"].replace("${EndpointName}", "paylink-fraud"): r["Properties"]
              for logical, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"
              and not logical.startswith("Ingest")}
    specs = alarm_specs(load_deploy_config())
    assert sorted(alarms) == sorted(s.name for s in specs)
    for spec in specs:
        props = alarms[spec.name]
        assert (props["Namespace"], props["MetricName"], props["ComparisonOperator"]) == \
            (spec.namespace, spec.metric, spec.comparison), spec.name
        assert props.get("Statistic") == spec.statistic and props.get("ExtendedStatistic") == spec.extended_statistic
        assert [d["Name"] for d in props["Dimensions"]] == [k for k, _ in spec.dimensions]


def _allowed(doc: dict, service: str) -> dict[str, list[str]]:
    """The actions of one service a policy allows, each with the resources it may act on."""
    out: dict[str, list[str]] = {}
    for statement in doc["Statement"]:
        for action in _as_list(statement["Action"]):
            if action.startswith(f"{service}:"):
                out.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return out


def test_the_online_store_table_and_event_stream():
    from fraudcore.online.dynamo import KEY_ATTRIBUTE, TTL_ATTRIBUTE

    resources, outputs = _template()["Resources"], _template()["Outputs"]
    table = resources["OnlineStoreTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    stream = resources["EventStream"]["Properties"]
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert {"OnlineStoreTableName", "OnlineStoreTableArn", "EventStreamName", "EventStreamArn",
            "IngestRoleArn"} <= set(outputs)


def test_the_endpoint_only_reads_the_online_store_and_ingest_only_what_it_needs():
    docs = _docs()
    table = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${OnlineStoreTableName}"
    stream = "arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/${EventStreamName}"
    assert _allowed(docs["sagemaker-execution-policy"], "dynamodb") == {
        "dynamodb:BatchGetItem": [table], "dynamodb:GetItem": [table]}
    assert _allowed(docs["sagemaker-execution-policy"], "kinesis") == {}
    ingest = docs["ingest-policy"]
    assert _allowed(ingest, "dynamodb") == {"dynamodb:GetItem": [table], "dynamodb:BatchGetItem": [table],
                                            "dynamodb:PutItem": [table]}
    assert set(_allowed(ingest, "kinesis")) == {"kinesis:DescribeStreamSummary", "kinesis:ListShards",
                                                "kinesis:GetShardIterator", "kinesis:GetRecords"}
    assert all(r == [stream] for r in _allowed(ingest, "kinesis").values())
    assert set(_allowed(ingest, "s3")) == set() and set(_allowed(ingest, "cloudwatch")) == {"cloudwatch:PutMetricData"}


def test_the_container_reads_the_templates_online_store_table():
    """config/deploy.toml's model.online_store names the table the template creates and the execution role reads."""
    template = _template()
    table = template["Parameters"]["OnlineStoreTableName"]["Default"]
    assert load_deploy_config().model.online_store == f"dynamodb:{table}"
    read = [st for st in _docs()["sagemaker-execution-policy"]["Statement"] if st["Sid"] == "ReadOnlineFeatureStore"]
    assert read and set(_as_list(read[0]["Action"])) == {"dynamodb:BatchGetItem", "dynamodb:GetItem"}


# Deployer statements DeployFlow does not need on Batch: the deploy-job role lacks them on purpose.
DEPLOYER_ONLY = {
    "ListModelPackagesHasNoResourceLevelPermissions": "`fraud models approvals` lists the package group",
    "ModelRegistryApprovals": "a person approves or rejects; an approval is what starts DeployFlow",
    "ReadCaptureForShadowReports": "`fraud deploy shadow-report` reads capture",
    "ListCaptureForShadowReports": "`fraud deploy shadow-report` lists capture",
    **{sid: "`make aws-drill` only" for sid in ("DrillEndpoints", "DrillEndpointUpdates", "DrillTargetTrackingAlarms",
                                                 "DrillRemovesItsModelPackages", "DrillForcesAndRemovesItsAlarms",
                                                 "DrillRemovesItsObjects")},
}


def _grants(doc: dict):
    """(Sid, action, resource, context) for every action and resource a policy names, with each combination of
    the values its conditions accept."""
    import itertools

    for statement in doc["Statement"]:
        checks = [(k, _as_list(v)) for c in statement.get("Condition", {}).values() for k, v in c.items()]
        for values in itertools.product(*(v for _, v in checks)):
            context = {k: _substitute(v) for (k, _), v in zip(checks, values)}
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    yield statement["Sid"], action, _substitute(resource), context


def test_the_deploy_job_role_has_the_deployers_deploy_path_and_nothing_more():
    """DeployFlow does on Batch what the deployer does by hand: the two documents cannot drift apart."""
    from aws.iam_audit import allowed

    docs = _docs()
    deployer, job = docs["deployer-policy"], docs["deploy-job-policy"]
    as_deployed = {name: json.loads(_substitute(json.dumps(docs[name]))) for name in ("deployer-policy",
                                                                                     "deploy-job-policy")}
    assert set(DEPLOYER_ONLY) <= {s["Sid"] for s in deployer["Statement"]}, "DEPLOYER_ONLY names a removed statement"
    missing = [f"deployer/{sid}: {action} on {resource} {ctx or ''}" for sid, action, resource, ctx in _grants(deployer)
               if sid not in DEPLOYER_ONLY and not allowed([as_deployed["deploy-job-policy"]], action, resource, ctx)]
    assert missing == [], "deploy-job-policy.json lacks (add it, or name the statement in DEPLOYER_ONLY):\n" + \
        "\n".join(missing)
    beyond = [f"deploy-job/{sid}: {action} on {resource}" for sid, action, resource, ctx in _grants(job)
              if not allowed([as_deployed["deployer-policy"]], action, resource, ctx)]
    assert beyond == [], "deploy-job-policy.json grants more than the deployer:\n" + "\n".join(beyond)


def test_the_deploy_job_role_in_the_template_and_who_may_pass_it():
    template = _template()
    props = template["Resources"]["DeployJobRole"]["Properties"]
    assert props["RoleName"] == SAMPLE["DeployJobRole.Arn"].rpartition("/")[2]
    assert template["Outputs"]["DeployJobRoleArn"]["Value"] == {"Fn::GetAtt": ["DeployJobRole", "Arn"]}
    creator = template["Resources"]["ScheduleCreatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # `step-functions create` registers DeployFlow's job definitions with the role as their jobRoleArn.
    assert [s["Sid"] for s in creator if s["Action"] == ["iam:PassRole"]
            and s["Resource"] == [{"Fn::Sub": "${DeployJobRole.Arn}"}]] == ["PassDeployJobRole"]
    # Step Functions submits jobs whose definitions already name the role: batch:SubmitJob has no role field,
    # so the Step Functions role passes no role (AWS's own policy for the Batch integration has no PassRole).
    assert not [s for s in _docs()["step-functions-policy"]["Statement"] if "iam:PassRole" in _as_list(s["Action"])]
