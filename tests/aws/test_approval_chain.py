"""The approval step of the weekly chain (issue 17, item 4): Model Registry package, approve/reject, and the
EventBridge rule that starts DeployFlow, against the emulator (its model-package events stand in for SageMaker's)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cfnlint.api import decode_str

from aws.iam_audit import harness_session

from deploy.approval import APPROVED, PENDING, approval_history, find_package, metrics_of, request_approval
from fraudcore.cli import main as fraud

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "infra" / "template.yaml"


def _resolve(value, params):
    """The template's value with Ref/Sub of parameters resolved (enough for the rules' patterns)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return params[value["Ref"]]
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(params[m.group(1)]), value["Fn::Sub"])
        return {k: _resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params) for v in value]
    return value


def _rule(name, cfg):
    template, errors = decode_str(TEMPLATE.read_text())
    assert not errors
    params = {"ModelPackageGroupName": cfg.approval.model_package_group, "AWS::Partition": "aws",
              "AWS::Region": cfg.region, "AWS::AccountId": "123456789012", "EndpointName": cfg.endpoint.name,
              **{k: v.get("Default", "") for k, v in template["Parameters"].items()}}
    return _resolve(template["Resources"][name]["Properties"], params)


@pytest.fixture
def watched(aws):
    """The template's ModelApprovedRule on the emulator's default bus, with an SQS queue as its observer."""
    session = harness_session(aws.cfg.region)   # the stack's rule and a test observer: setup, never judged
    sqs, events = session.client("sqs"), session.client("events")
    queue = sqs.create_queue(QueueName="approved")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = _rule("ModelApprovedRule", aws.cfg)
    events.put_rule(Name=rule["Name"], EventPattern=json.dumps(rule["EventPattern"]))
    events.put_targets(Rule=rule["Name"], Targets=[{"Id": "observer", "Arn": arn}])

    def received():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]
    return received


def _request(aws, run_id="1764000000000101"):
    return request_approval(aws.clients, aws.cfg, run_id=run_id, metrics={"pr_auc": 0.4123, "recall_at_p20": 0.61},
                            card="EvaluateFlow/55/evaluate (card id evaluation)", evaluation="EvaluateFlow/55")


def test_request_is_a_pending_package_with_run_metrics_and_card(aws):
    package = _request(aws)
    assert package["ModelApprovalStatus"] == PENDING
    assert package["ModelPackageGroupName"] == aws.cfg.approval.model_package_group
    props = package["CustomerMetadataProperties"]
    assert props["run_id"] == "1764000000000101" and props["card"].startswith("EvaluateFlow/55/evaluate")
    assert metrics_of(package) == {"pr_auc": 0.4123, "recall_at_p20": 0.61}
    again = _request(aws)  # the chain re-run for the same run asks once
    assert again["ModelPackageArn"] == package["ModelPackageArn"]


def test_approve_records_and_the_event_starts_deployflow(aws, watched, capsys):
    _request(aws)
    assert watched() == []  # the creation event (PendingManualApproval) does not match the rule
    assert fraud(["models", "approve", "1764000000000101", "--reason", "beats the champion on the matured weeks"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["decision"] == APPROVED and printed["by"] == "paylink-dev"
    (record,) = approval_history(aws.clients, aws.cfg)
    assert (record.run_id, record.decision, record.reason) == ("1764000000000101", APPROVED,
                                                               "beats the champion on the matured weeks")
    assert find_package(aws.clients, aws.cfg, "1764000000000101")["ModelApprovalStatus"] == APPROVED
    (event,) = watched()
    assert event["detail-type"] == "SageMaker Model Package State Change"
    assert event["detail"]["ModelApprovalStatus"] == "Approved"
    # What the rule's input transformer hands DeployFlow's state machine: Metaflow's "Parameters" string.
    target = _rule("ModelApprovedRule", aws.cfg)["Targets"][0]["InputTransformer"]
    text = target["InputTemplate"]
    for name, path in target["InputPathsMap"].items():
        value = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        text = text.replace(f"<{name}>", str(value))
    parameters = json.loads(json.loads(text)["Parameters"])
    assert parameters["train_run"] == "1764000000000101" and parameters["target"] == "sagemaker"


def test_approval_in_the_console_matches_the_rule_too(aws, watched):
    """An approval through the API (as the console does it) repeats no metadata; the event still names the run."""
    package = _request(aws, "1764000000000202")
    aws.clients.sagemaker.update_model_package(ModelPackageArn=package["ModelPackageArn"],
                                               ModelApprovalStatus="Approved", ApprovalDescription="console")
    (event,) = watched()
    assert event["detail"]["CustomerMetadataProperties"]["run_id"] == "1764000000000202"
    assert approval_history(aws.clients, aws.cfg) == []  # only SageMaker recorded this one


def test_reject_is_recorded_and_deploys_nothing(aws, watched, capsys):
    _request(aws, "1764000000000303")
    assert fraud(["models", "reject", "1764000000000303", "--reason", "recall drops on card-not-present"]) == 0
    (record,) = approval_history(aws.clients, aws.cfg)
    assert (record.decision, record.reason) == ("Rejected", "recall drops on card-not-present")
    assert watched() == []
    assert fraud(["models", "approve", "1764000000000303", "--reason", "changed my mind"]) == 1
    assert "is 'Rejected', not 'PendingManualApproval'" in capsys.readouterr().err
    assert fraud(["models", "approve", "999", "--reason", "x"]) == 1
    assert "run id '999': no model package" in capsys.readouterr().err
    assert fraud(["models", "approve", "1764000000000303", "--reason", " "]) == 1


def test_evaluateflow_step_requests_approval_only_for_a_new_challenger(aws):
    from deploy.approval import request_for_evaluation

    summary = {"model": {"pr_auc": 0.40}, "challenger": {"pr_auc": 0.43}}
    kwargs = dict(evaluation="EvaluateFlow/9", card="EvaluateFlow/9/evaluate", cfg=aws.cfg, clients=aws.clients)
    assert request_for_evaluation(False, "1", "2", summary, **kwargs) == ""
    assert request_for_evaluation(True, "1", "1", summary, **kwargs) == ""  # "latest" is the champion itself
    arn = request_for_evaluation(True, "1", "2", summary, **kwargs)
    package = find_package(aws.clients, aws.cfg, "2")
    assert package["ModelPackageArn"] == arn and package["ModelApprovalStatus"] == PENDING
    assert metrics_of(package) == {"pr_auc": 0.43, "champion_pr_auc": 0.40}


def test_matured_window_is_the_week_ending_maturity_days_ago():
    from datetime import date

    from deploy.approval import matured_window

    assert matured_window("", "", 30, today=date(2026, 12, 6)) == ("2026-10-30", "2026-11-06")
    assert matured_window("2026-01-01", "", 30) == ("2026-01-01", "")  # an explicit window wins
    assert matured_window("", "", 0) == ("", "")
    with pytest.raises(ValueError, match="label_maturity_days' must be <= 365; got 400"):
        matured_window("", "", 400)


def test_trainflow_success_starts_evaluateflow_on_matured_labels(aws):
    rule = _rule("TrainFlowSucceededRule", aws.cfg)
    assert rule["EventPattern"]["detail"] == {
        "status": ["SUCCEEDED"],
        "stateMachineArn": ["arn:aws:states:us-east-1:123456789012:stateMachine:paylink_fraud.prod.TrainFlow"]}
    (target,) = rule["Targets"]
    assert target["Arn"].endswith(":stateMachine:paylink_fraud.prod.EvaluateFlow")
    parameters = json.loads(json.loads(target["Input"])["Parameters"])
    assert parameters == {"challenger": "latest", "request_approval": True,
                          "data": "s3://paylink-fraud-artifacts/data/labelled", "label_maturity_days": 45}


def test_models_help_names_approve_and_reject(capsys):
    assert fraud(["models", "--help"]) == 0
    out = capsys.readouterr().out
    assert "promote" in out and "approve RUN_ID --reason WHY" in out and "reject RUN_ID" in out
