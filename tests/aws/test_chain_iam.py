"""Every AWS call the chain's new code makes is allowed by the role's policy in deploy/iam (issue 17 part B).

A narrow check of our own, ahead of the suite-wide IAM audit: boto3's `before-call` hook records each
operation and its parameters while the drill (deploy, preflight, canary with behaviour alarms, rollback,
cleanup, shadow, approval) and EvaluateFlow's approval step run on the emulator; each call becomes the
IAM action and resource ARN AWS would authorise, and must match an Allow statement (action and
resource; conditions are not evaluated here).
"""
from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

from deploy.approval import request_for_evaluation
from deploy.drill import drill_config, run_drill

IAM = Path(__file__).resolve().parents[2] / "deploy" / "iam"
ACCOUNT, REGION = "123456789012", "us-east-1"
PARAMS = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
          "ArtifactBucketName": "paylink-fraud-artifacts", "EndpointName": "paylink-fraud",
          "ServingRepositoryName": "paylink-fraud-serving", "MetaflowDatastorePrefix": "metaflow",
          "ModelPackageGroupName": "paylink-fraud", "MetaflowStepFunctionsTableName": "metaflow-sfn-state",
          "SageMakerExecutionRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/paylink-fraud-sagemaker-execution"}
S3_ACTIONS = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
              "CreateMultipartUpload": "s3:PutObject", "ListObjectsV2": "s3:ListBucket",
              "DeleteObjects": "s3:DeleteObject"}
FREE = {"sts:GetCallerIdentity"}  # needs no permission
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"


def _statements(policy: str) -> list[dict]:
    text = (IAM / f"{policy}.json").read_text()
    text = re.sub(r"\$\{([^}]+)\}", lambda m: PARAMS[m.group(1)], text)
    return json.loads(text)["Statement"]


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _authorised(call: tuple[str, str], statements: list[dict]) -> bool:
    action, resource = call
    return any(s["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(s["Action"]))
               and any(fnmatch.fnmatchcase(resource, r) for r in _as_list(s["Resource"])) for s in statements)


def _iam(service: str, op: str, params: dict) -> list[tuple[str, str]]:
    """The (action, resource) pairs AWS authorises one API call as."""
    if service == "s3":
        key = params.get("Key")
        resource = f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key else "")
        if op == "DeleteObjects":
            return [("s3:DeleteObject", f"arn:aws:s3:::{params['Bucket']}/{o['Key']}") for o in params["Delete"]["Objects"]]
        return [(S3_ACTIONS[op], resource)]
    if service == "sts":
        return [(f"sts:{op}", "*")]
    if service == "ecr":
        return [(f"ecr:{op}", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{params['repositoryName']}")]
    if service == "cloudwatch":
        names = _as_list(params.get("AlarmNames") or params.get("AlarmName") or [params.get("AlarmNamePrefix", "") + "*"])
        return [(f"cloudwatch:{op}", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{n}") for n in names]
    if service == "application-autoscaling":
        return [(f"application-autoscaling:{op}", "*")]
    prefix = "sagemaker"
    if op.startswith("List") and op != "ListTags":
        return [(f"{prefix}:{op}", "*")]
    for key, kind in (("EndpointName", "endpoint"), ("EndpointConfigName", "endpoint-config"), ("ModelName", "model"),
                      ("ModelPackageGroupName", "model-package-group")):
        if key in params and not (key == "ModelPackageGroupName" and op == "CreateModelPackage"):
            calls = [(f"{prefix}:{op}", f"{SM}:{kind}/{params[key]}")]
            if op == "CreateModel":
                calls.append(("iam:PassRole", params["ExecutionRoleArn"]))
            if params.get("Tags"):
                calls.append((f"{prefix}:AddTags", f"{SM}:{kind}/{params[key]}"))
            return calls
    if op == "CreateModelPackage":
        arn = f"{SM}:model-package/{params['ModelPackageGroupName']}/1"
        return [(f"{prefix}:{op}", arn)] + ([(f"{prefix}:AddTags", arn)] if params.get("Tags") else [])
    arn = params.get("ModelPackageArn") or params.get("ModelPackageName") or params.get("ResourceArn")
    return [(f"{prefix}:{op}", arn)]


def _record(clients) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    services = {"sagemaker-runtime": "sagemaker", "application-auto-scaling": "application-autoscaling"}

    def hook(params, model, event_name, **_):
        service = event_name.split(".")[1]
        seen.extend(_iam(services.get(service, service), model.name, params))
    for name in ("sagemaker", "runtime", "s3", "cloudwatch", "autoscaling", "sts", "ecr"):
        # Clients of one session may share an event emitter: one registration each, by id.
        getattr(clients, name).meta.events.register("before-parameter-build.*.*", hook, unique_id="chain-iam")
    return seen


def test_the_deployer_policy_allows_every_call_of_the_drill(aws, tmp_path):
    cfg = drill_config(aws.cfg)
    calls = _record(aws.clients)
    run_drill(aws.clients, cfg, tmp_path, before_smoke=aws.queue_answers, stamp="7")
    statements = _statements("deployer-policy")
    denied = sorted({c for c in calls if c[0] not in FREE and not _authorised(c, statements)})
    assert denied == [], "\n".join(map(str, denied))
    actions = {a for a, _ in calls}
    # The calls part B added are among those checked.
    assert {"ecr:DescribeImages", "sagemaker:DeleteEndpoint", "sagemaker:DeleteModel", "sagemaker:UpdateModelPackage",
            "sagemaker:CreateModelPackage", "cloudwatch:SetAlarmState", "s3:DeleteObject"} <= actions


def test_the_batch_job_policy_allows_evaluateflows_approval_request(aws):
    calls = _record(aws.clients)
    request_for_evaluation(True, "1", "2", {"model": {"pr_auc": 0.4}, "challenger": {"pr_auc": 0.5}},
                           evaluation="EvaluateFlow/1", card="c", cfg=aws.cfg, clients=aws.clients)
    denied = sorted({c for c in calls if not _authorised(c, _statements("batch-job-policy"))})
    assert denied == [] and len(calls) >= 4
