"""The ingest service in deploy/infra/template.yaml: one `fraud features ingest` task on ECS Fargate, reading the
template's own stream into its own table as IngestRole, never two at once, watched by three alarms.

moto's CloudFormation creates no ECS service or alarms worth checking (docs/DESIGN.md), so the template is
read and checked against the code it runs: the CLI's real parser, the EMF line the CLI prints, the image's
Dockerfile and setup.py, and the policy documents in deploy/iam."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from aws.test_iam_and_template import _docs, _template, _wrap_subs
from fraudcore.online.cli import _emf, add_commands

ROOT = Path(__file__).resolve().parents[2]
STREAM, TABLE = "<EventStream>", "<OnlineStoreTable>"


def _resources() -> dict:
    return _template()["Resources"]


def _props(logical: str) -> dict:
    return _resources()[logical]["Properties"]


def _resolve(value):
    """A command token as a string: the template's own stream and table become placeholders, so that a literal
    name (or a reference to anything else) cannot pass for them."""
    if value == {"Ref": "EventStream"}:
        return STREAM
    if value == {"Fn::Sub": "dynamodb:${OnlineStoreTable}"}:
        return f"dynamodb:{TABLE}"
    assert isinstance(value, str), f"unexpected token in the ingest command: {value!r}"
    return value


def test_the_service_runs_one_fargate_task_as_the_ingest_role():
    service, task = _props("IngestService"), _props("IngestTaskDefinition")
    assert service["TaskDefinition"] == {"Ref": "IngestTaskDefinition"}
    assert service["Cluster"] == {"Ref": "IngestCluster"} and service["LaunchType"] == "FARGATE"
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["IngestRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["IngestExecutionRole", "Arn"]}
    assert task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc"
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"] == {
        "Subnets": {"Ref": "IngestSubnetIds"}, "SecurityGroups": {"Ref": "IngestSecurityGroupIds"},
        "AssignPublicIp": {"Ref": "IngestAssignPublicIp"}}
    params = _template()["Parameters"]
    assert params["IngestSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>" and "Default" not in params[
        "IngestSubnetIds"]
    assert params["IngestSecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"


def test_a_deploy_never_runs_two_writers_and_a_failed_one_rolls_back():
    service = _props("IngestService")
    assert service["DesiredCount"] == 1
    assert service["DeploymentConfiguration"] == {
        "MaximumPercent": 100, "MinimumHealthyPercent": 0,
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
    scaled = [r for r in _resources().values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
              and r["Properties"]["ServiceNamespace"] == "ecs"]
    assert scaled == []                                # and nothing scales it out


def test_the_command_is_the_clis_ingest_of_the_templates_stream_into_its_table():
    (container,) = _props("IngestTaskDefinition")["ContainerDefinitions"]
    command = [_resolve(token) for token in container["Command"]]
    assert command[:3] == ["fraud", "features", "ingest"]
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True), "<default>")
    args = parser.parse_args(command[2:])              # the CLI's own parser: an unknown flag fails here
    assert (args.kinesis, args.store) == (STREAM, f"dynamodb:{TABLE}")
    assert args.follow and args.emf and args.source is None
    assert args.rejects == "-"                        # standard error: the log group, not the task's disk
    # the templated names are the resources' own, from the parameters
    assert _props("EventStream")["Name"] == {"Ref": "EventStreamName"}
    assert _props("OnlineStoreTable")["TableName"] == {"Ref": "OnlineStoreTableName"}
    assert {"Name": "AWS_REGION", "Value": {"Ref": "AWS::Region"}} in container["Environment"]


def test_the_image_runs_the_command_and_holds_the_feature_declarations():
    """The image's CMD is `serve` with no ENTRYPOINT, so the task's Command replaces it; `fraud` is a console
    script of the package; --features names where the Dockerfile copies config/ (the installed package's
    default path, beside the source tree, does not exist in the image)."""
    dockerfile = (ROOT / "deploy" / "container" / "Dockerfile").read_text()
    assert not re.search(r"^ENTRYPOINT", dockerfile, re.M)
    assert "WORKDIR /opt/program" in dockerfile and re.search(r"^COPY config/ config/$", dockerfile, re.M)
    assert '"fraud=fraudcore.cli:main"' in (ROOT / "setup.py").read_text()
    (container,) = _props("IngestTaskDefinition")["ContainerDefinitions"]
    command = [_resolve(token) for token in container["Command"]]
    features = Path(command[command.index("--features") + 1])
    assert features.parent == Path("/opt/program/config")
    assert (ROOT / "config" / features.name).is_file()
    image = container["Image"]["Fn::Sub"]
    assert image.endswith("/${ServingRepositoryName}:${IngestImageTag}")


def test_the_execution_role_is_deploy_iams_document_and_only_pulls_and_logs():
    props, docs = _props("IngestExecutionRole"), _docs()
    assert props["AssumeRolePolicyDocument"] == _wrap_subs(docs["ingest-execution-trust"])
    (policy,) = props["Policies"]
    assert policy["PolicyDocument"] == _wrap_subs(docs["ingest-execution-policy"])
    actions = {a for st in docs["ingest-execution-policy"]["Statement"] for a in st["Action"]}
    assert actions == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
                       "ecr:GetAuthorizationToken", "logs:CreateLogStream", "logs:PutLogEvents"}
    # its log resources are the template's log group, the one the container's log driver writes
    group = _props("IngestLogGroup")["LogGroupName"]["Fn::Sub"]
    (logs,) = [st for st in docs["ingest-execution-policy"]["Statement"] if st["Sid"] == "IngestLogs"]
    assert [r.split(":log-group:")[1] for r in logs["Resource"]] == [group, f"{group}:log-stream:*"]
    (container,) = _props("IngestTaskDefinition")["ContainerDefinitions"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "IngestLogGroup"}
    assert _props("IngestLogGroup")["RetentionInDays"] == {"Ref": "IngestLogRetentionDays"}
    readme = (ROOT / "deploy" / "iam" / "README.md").read_text()
    assert "`ingest-execution-*.json`" in readme and "ingest-execution" in readme.split("`Resource: \"*\"`")[1]


def test_alarms_watch_the_metrics_the_ingest_prints():
    line = json.loads(_emf({"applied": 5, "late": 0, "rejected": 2, "lag_s": 1.5}, "s", {}))
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    printed = {m["Name"] for m in directive["Metrics"]}
    source = {"Name": "Source", "Value": {"Ref": "EventStream"}}   # the CLI's dimension: the --kinesis stream
    lag, rejected = _props("IngestLagAlarm"), _props("IngestRejectedAlarm")
    for alarm in (lag, rejected):
        assert alarm["Namespace"] == directive["Namespace"] and alarm["MetricName"] in printed
        assert alarm["Dimensions"] == [source] and directive["Dimensions"] == [["Source"]]
    assert (lag["MetricName"], lag["Statistic"], lag["ComparisonOperator"]) == \
        ("IngestLagSeconds", "Maximum", "GreaterThanThreshold")
    assert lag["Threshold"] == {"Ref": "IngestLagAlarmSeconds"}
    assert lag["EvaluationPeriods"] == lag["DatapointsToAlarm"] == {"Ref": "IngestAlarmMinutes"}
    assert lag["Period"] == 60 and lag["TreatMissingData"] == "breaching"     # silence is an alarm too
    assert (rejected["MetricName"], rejected["Statistic"], rejected["ComparisonOperator"], rejected["Threshold"]) == \
        ("IngestRejected", "Sum", "GreaterThanThreshold", 0)


def test_an_alarm_fires_when_no_ingest_task_runs():
    alarm = _props("IngestNotRunningAlarm")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/ECS", "CPUUtilization",
                                                                             "SampleCount")
    assert alarm["Dimensions"] == [{"Name": "ClusterName", "Value": {"Ref": "IngestCluster"}},
                                   {"Name": "ServiceName", "Value": {"Fn::GetAtt": ["IngestService", "Name"]}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == \
        ("LessThanThreshold", 1, "breaching")
    for logical in ("IngestLagAlarm", "IngestRejectedAlarm", "IngestNotRunningAlarm"):
        assert _props(logical)["AlarmActions"] == _props("Error5xxRateAlarm")["AlarmActions"], logical


def test_the_stack_outputs_name_the_service_and_its_logs():
    outputs = _template()["Outputs"]
    assert outputs["IngestServiceName"]["Value"] == {"Fn::GetAtt": ["IngestService", "Name"]}
    assert outputs["IngestClusterName"]["Value"] == {"Ref": "IngestCluster"}
    assert outputs["IngestLogGroupName"]["Value"] == {"Ref": "IngestLogGroup"}
