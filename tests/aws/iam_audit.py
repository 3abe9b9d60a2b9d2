"""The IAM audit: what each role did in the AWS test suite, judged by that role's policy in deploy/iam.

moto accepts every call whatever IAM says, so a policy is proven here instead: the emulator logs every request
(tests/aws/emulator.py `_RequestLog`), each code path signs with its own access key id (`ROLE_KEYS`), and
`calls_of` turns each logged request into the IAM action(s) and resource ARN(s) AWS would authorise it as,
plus the calls AWS makes on a role's behalf that moto never makes ("implied"): iam:PassRole when a role
is handed to a service, the execution role reading the model and writing capture, the Step Functions role
submitting Batch jobs its state machine names, the EventBridge role starting its target, and the CloudWatch
alarms target tracking creates. `allowed` evaluates a call against policy documents.

Why a small evaluator of our own: the libraries on the registry list parse or lint policies (policyuniverse
expands actions, parliament and iam-policy-lint lint, policy_sentry writes policies, cloudsplaining
reports risk); none answers "does this policy allow this action on this ARN with this context".
moto's own `IAMPolicy` does, but it ignores StringLike conditions, passes a condition whose key is absent,
matches actions case-sensitively and turns a failed Allow condition into an explicit deny. This one
follows AWS's documented logic for what our policies use: explicit Deny wins, then any Allow; Action and
NotAction (case-insensitive, `*` and `?`), Resource and NotResource (`*` and `?`), and the condition
operators StringEquals, StringLike, StringNotEquals, ArnLike, ArnEquals and Bool, with a missing key
failing the condition (no ...IfExists in our documents; an unknown operator is an error, not a pass).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qs, unquote

from aws.emulator import LoggedRequest

IAM = Path(__file__).resolve().parents[2] / "deploy" / "iam"
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
HARNESS_KEY = "testing"  # the tests' own setup and checks: not a role, never judged
# One access key id per code path, so the log says who made each call.
ROLE_KEYS = {
    "deployer": "AKIAPAYLINKDEPLOYER0",     # fraud deploy, DeployFlow run by hand or CI, fraud models
    "batch-job": "AKIAPAYLINKBATCHJOB0",    # TrainFlow/EvaluateFlow/MonitorFlow steps on AWS Batch
    "deploy-job": "AKIAPAYLINKDEPLOYJOB",   # DeployFlow's steps on AWS Batch (deploy.schedule --deploy-job-role)
    "schedule-creator": "AKIAPAYLINKSCHEDUL0",  # whoever runs `flows/x.py step-functions create`
    "monitor": "AKIAPAYLINKMONITOR00",      # `fraud monitor` / MonitorFlow run by an operator or cron host
    "ingest": "AKIAPAYLINKINGEST000",       # `fraud features ingest`: Kinesis events into the DynamoDB online store
}
KEY_ROLES = {key: role for role, key in ROLE_KEYS.items()}
# Roles AWS services assume (their calls are implied, found by the role's name in the ARN handed over).
SERVICE_ROLES = {"paylink-fraud-sagemaker-execution": "sagemaker-execution", "paylink-fraud-batch-job": "batch-job",
                 "paylink-fraud-deploy-job": "deploy-job",
                 "paylink-fraud-step-functions": "step-functions", "paylink-fraud-eventbridge": "eventbridge"}
# The stack parameters as this test suite's deployment uses them (deploy/infra/template.yaml).
PARAMETERS = {
    "AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
    "ArtifactBucketName": "paylink-fraud-artifacts", "EndpointName": "paylink-fraud",
    "ServingRepositoryName": "paylink-fraud-serving", "MetaflowDatastorePrefix": "metaflow",
    "MetaflowStepFunctionsTableName": "metaflow-sfn-state",
    # `step-functions create` without --production names the machines for the user (tests); with it, prod.
    "StateMachinePrefix": "paylink_fraud.user.paylink-dev",
    "TrainStateMachineName": "paylink_fraud.user.paylink-dev.TrainFlow",
    "MonitorStateMachineName": "paylink_fraud.user.paylink-dev.MonitorFlow",
    "MetaflowJobQueueArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/metaflow-queue",
    "SageMakerExecutionRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/paylink-fraud-sagemaker-execution",
    "BatchJobRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/paylink-fraud-batch-job",
    "DeployJobRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/paylink-fraud-deploy-job",
    "StepFunctionsRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/paylink-fraud-step-functions",
    "EventBridgeRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/paylink-fraud-eventbridge",
    # the weekly chain (config/deploy.toml [release] model_package_group) and the online store
    "ModelPackageGroupName": "paylink-fraud",
    "EvaluateStateMachineName": "paylink_fraud.user.paylink-dev.EvaluateFlow",
    "DeployStateMachineName": "DeployFlow",
    "OnlineStoreTableName": "paylink-fraud-online", "EventStreamName": "paylink-fraud-events",
}
IAM_PREFIX = {"monitoring": "cloudwatch"}  # SigV4 signing name -> IAM action prefix, where they differ
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}


@dataclass(frozen=True)
class Call:
    """One action on one resource that IAM would authorise for `role`."""

    role: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    origin: str = ""  # the request it came from, or "implied by ..." for calls AWS makes on the role's behalf


def harness_session(region: str = REGION) -> Any:
    """A boto3 session signed with the harness key: the tests' setup and checks, never judged."""
    import boto3

    return boto3.Session(aws_access_key_id=HARNESS_KEY, aws_secret_access_key="testing", region_name=region)


def role_session(role: str, region: str = REGION) -> Any:
    """A boto3 session signed as `role` (ROLE_KEYS)."""
    import boto3

    return boto3.Session(aws_access_key_id=ROLE_KEYS[role], aws_secret_access_key="testing", region_name=region)


# ---------------------------------------------------------------- the policy evaluator
def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_OPERATORS = {
    "StringEquals": lambda want, got: got == want,
    "StringNotEquals": lambda want, got: got != want,
    "StringLike": lambda want, got: _wildcard(want, got),
    "ArnEquals": lambda want, got: got == want,
    "ArnLike": lambda want, got: _wildcard(want, got),
    "Bool": lambda want, got: str(got).lower() == str(want).lower(),
}


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, checks in conditions.items():
        if operator not in _OPERATORS:
            raise ValueError(f"condition operator {operator!r} is not supported by the audit's evaluator")
        for key, wanted in checks.items():
            if key not in context:
                return False
            match = any(_OPERATORS[operator](w, context[key]) for w in _as_list(wanted))
            if operator.startswith("StringNot"):
                match = all(_OPERATORS[operator](w, context[key]) for w in _as_list(wanted))
            if not match:
                return False
    return True


def _statement_applies(st: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in st:
        if not any(_wildcard(a, action, ignore_case=True) for a in _as_list(st["Action"])):
            return False
    elif any(_wildcard(a, action, ignore_case=True) for a in _as_list(st["NotAction"])):
        return False
    if "Resource" in st:
        if not any(_wildcard(r, resource) for r in _as_list(st["Resource"])):
            return False
    elif "NotResource" in st and any(_wildcard(r, resource) for r in _as_list(st["NotResource"])):
        return False
    return _conditions_hold(st.get("Condition", {}), context)


def allowed(documents: Iterable[dict[str, Any]], action: str, resource: str,
            context: dict[str, str] | None = None) -> bool:
    """AWS's identity-policy logic: an explicit Deny wins, otherwise any Allow allows, otherwise denied."""
    ctx, allow = context or {}, False
    for doc in documents:
        for st in _as_list(doc["Statement"]):
            if _statement_applies(st, action, resource, ctx):
                if st["Effect"] == "Deny":
                    return False
                allow = True
    return allow


def substitute(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in PARAMETERS:
            raise KeyError(f"policy parameter ${{{match.group(1)}}} has no value in iam_audit.PARAMETERS")
        return PARAMETERS[match.group(1)]

    return re.sub(r"\$\{([^}]+)\}", value, text)


@lru_cache(maxsize=None)
def policy_of(role: str) -> tuple[dict[str, Any], ...]:
    """The role's policy document(s) from deploy/iam, parameters substituted."""
    path = IAM / f"{role}-policy.json"
    return (json.loads(substitute(path.read_text())),)


# ---------------------------------------------------------------- requests -> calls
def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _s3_calls(req: LoggedRequest) -> Iterator[tuple[str, str, dict[str, str]]]:
    path = unquote(req.path).lstrip("/")
    bucket, _, key = path.partition("/")
    query = parse_qs(req.query, keep_blank_values=True)
    if not key:
        if req.method == "POST" and "delete" in query:
            for deleted in re.findall(rb"<Key>(.*?)</Key>", req.body):
                yield "s3:DeleteObject", f"arn:aws:s3:::{bucket}/{deleted.decode()}", {}
        elif req.method == "PUT" and not query:
            yield "s3:CreateBucket", f"arn:aws:s3:::{bucket}", {}
        elif "location" in query:
            yield "s3:GetBucketLocation", f"arn:aws:s3:::{bucket}", {}
        elif req.method in ("GET", "HEAD"):
            yield "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": query.get("prefix", [""])[0]}
        else:
            yield f"s3:{req.method}Bucket?{req.query}", f"arn:aws:s3:::{bucket}", {}
        return
    obj = f"arn:aws:s3:::{bucket}/{key}"
    if req.method in ("GET", "HEAD"):
        yield "s3:GetObject", obj, {}
    elif req.method in ("PUT", "POST"):
        yield "s3:PutObject", obj, {}
        if req.copy_source:
            yield "s3:GetObject", f"arn:aws:s3:::{unquote(req.copy_source).lstrip('/').split('?')[0]}", {}
    elif req.method == "DELETE":
        yield ("s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject"), obj, {}


@lru_cache(maxsize=None)
def _rest_operations(service: str) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path regex, operation) for a REST service from botocore's model (batch, sagemaker-runtime)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?")[0]
        regex = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(uri).replace(r"\+", ""))
        out.append((http["method"], re.compile(regex + "/?$"), name))
    return tuple(out)


def _operation_and_params(req: LoggedRequest) -> tuple[str, dict[str, Any]]:
    if req.target:
        return req.target.rpartition(".")[2], json.loads(req.body or b"{}")
    if "/operation/" in req.path:  # smithy rpc-v2-cbor (CloudWatch)
        from moto.core.cbor import loads

        return req.path.rpartition("/")[2], (loads(req.body) if req.body else {}) or {}
    form = parse_qs(req.body.decode("utf-8", "replace") if req.body else req.query)
    if "Action" in form:
        return form["Action"][0], {k: v[0] for k, v in form.items()}
    botocore_name = {"sagemaker": "sagemaker-runtime"}.get(req.service, req.service)
    for method, regex, name in _rest_operations(botocore_name):
        match = regex.match(req.path)
        if method == req.method and match:
            params = json.loads(req.body) if req.body.startswith(b"{") else {}
            params["_path"] = [unquote(g) for g in match.groups()]
            return name, params
    return f"UNKNOWN {req.method} {req.path}", {}


def _resources(prefix: str, op: str, p: dict[str, Any]) -> list[str]:
    """The resource ARNs IAM checks for `prefix:op` ("*" where it has no resource-level permission)."""
    if prefix == "sagemaker":
        if op == "InvokeEndpoint":
            return [_arn("sagemaker", f"endpoint/{p['_path'][0]}")]
        if "ResourceArn" in p:
            return [p["ResourceArn"]]
        if "ModelPackage" in op and not op.startswith("List"):
            return [_model_package_arn(op, p)]
        for suffix, field_, kind in (("EndpointConfig", "EndpointConfigName", "endpoint-config"),
                                     ("Endpoint", "EndpointName", "endpoint"),
                                     ("EndpointWeightsAndCapacities", "EndpointName", "endpoint"),
                                     ("Model", "ModelName", "model")):
            if op.endswith(suffix) and field_ in p:
                return [_arn("sagemaker", f"{kind}/{p[field_].lower()}")]
        return ["*"]
    if prefix == "cloudwatch":
        names = p.get("AlarmNames") or ([p["AlarmName"]] if "AlarmName" in p else [])
        if not names and "AlarmNamePrefix" in p:   # every alarm the prefix can name
            names = [p["AlarmNamePrefix"] + "*"]
        return [_arn("cloudwatch", f"alarm:{n}") for n in names] or ["*"]
    if prefix == "ecr":
        return [_arn("ecr", f"repository/{p['repositoryName']}")] if "repositoryName" in p else ["*"]
    if prefix == "states":
        if op == "CreateStateMachine":
            return [_arn("states", f"stateMachine:{p['name']}")]
        arn = p.get("stateMachineArn") or p.get("resourceArn")
        return [arn] if arn else ["*"]
    if prefix == "events":
        name = p.get("Name") or p.get("Rule")
        return [_arn("events", f"rule/{name}")] if name else ["*"]
    if prefix == "kinesis":
        if "StreamARN" in p:
            return [p["StreamARN"]]
        if "StreamName" in p:
            return [_arn("kinesis", f"stream/{p['StreamName']}")]
        if "ShardIterator" in p:   # GetRecords: the iterator names its stream (moto's encoding of it)
            from moto.kinesis.utils import decompose_shard_iterator

            return [_arn("kinesis", f"stream/{decompose_shard_iterator(p['ShardIterator'])[0]}")]
        return ["*"]
    if prefix == "dynamodb":
        tables = [p["TableName"]] if "TableName" in p else list(p.get("RequestItems", {}))  # Batch*Item: each table
        return [_arn("dynamodb", f"table/{t}") for t in tables] or ["*"]
    if prefix == "batch":
        if op == "RegisterJobDefinition":
            return [_arn("batch", f"job-definition/{p['jobDefinitionName']}")]
        if op == "SubmitJob":
            return [_batch_arn("job-queue", p["jobQueue"]), _batch_arn("job-definition", p["jobDefinition"])]
        return ["*"]
    return ["*"]


def _model_package_arn(op: str, p: dict[str, Any]) -> str:
    """model-package-group/<group> for the group's calls, model-package/<group>/<version> for a package's."""
    if op.endswith("ModelPackageGroup"):
        return _arn("sagemaker", f"model-package-group/{p['ModelPackageGroupName'].lower()}")
    if op == "CreateModelPackage" and "ModelPackageGroupName" in p:   # a new version in the group
        group = p["ModelPackageGroupName"].rpartition("/")[2]
        return _arn("sagemaker", f"model-package/{group.lower()}/1")
    name = p.get("ModelPackageArn") or p.get("ModelPackageName", "?")
    return name if name.startswith("arn:") else _arn("sagemaker", f"model-package/{name.lower()}")


def _batch_arn(kind: str, name_or_arn: str) -> str:
    return name_or_arn if name_or_arn.startswith("arn:") else _arn("batch", f"{kind}/{name_or_arn}")


def _role_of(role_arn: str | None) -> str | None:
    return SERVICE_ROLES.get(str(role_arn).rpartition("/")[2]) if role_arn else None


@dataclass
class _State:
    """What earlier requests created, for calls implied later (a config's model, a model's role)."""

    model_roles: dict[str, str] = field(default_factory=dict)
    config_models: dict[str, list[str]] = field(default_factory=dict)


def _s3_url_arn(url: str, leaf: str = "") -> str:
    return "arn:aws:s3:::" + url.removeprefix("s3://").rstrip("/") + leaf


def _implied(role: str, op: str, p: dict[str, Any], state: _State) -> Iterator[Call]:
    """The calls AWS makes (or checks) on a role's behalf when `role` calls `op` (module doc)."""
    how = f"implied by {op}"

    def pass_role(arn: str, service: str | None) -> Call:
        ctx = (("iam:PassedToService", service),) if service else ()
        return Call(role, "iam:PassRole", arn, ctx, how)

    if op in ("CreateModel", "CreateEndpointConfig", "CreateEndpoint") and p.get("Tags"):
        yield from (Call(role, "sagemaker:AddTags", r, (), how) for r in _resources("sagemaker", op, p))
    if op == "CreateModel":
        arn = p["ExecutionRoleArn"]
        yield pass_role(arn, "sagemaker.amazonaws.com")
        state.model_roles[p["ModelName"]] = arn
        executor = _role_of(arn)
        container = p.get("PrimaryContainer", {})
        if executor:
            image = container["Image"]
            host, _, repo = image.partition("/")
            repo = re.split(r"[:@]", repo)[0]
            ecr = re.fullmatch(r"\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com", host)
            if ecr:   # SageMaker pulls an ECR image as the execution role (another registry: no ECR calls)
                yield Call(executor, "ecr:GetAuthorizationToken", "*", (), how)
                for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"):
                    yield Call(executor, action, _arn("ecr", f"repository/{repo}", region=ecr.group(1)), (), how)
            if container.get("ModelDataUrl"):
                yield Call(executor, "s3:GetObject", _s3_url_arn(container["ModelDataUrl"]), (), how)
            env = container.get("Environment", {})
            store = env.get("PAYLINK_ONLINE_STORE", "")
            if store.startswith("dynamodb:"):   # the container reads checkout features from the table
                for action in ("dynamodb:BatchGetItem", "dynamodb:GetItem"):
                    yield Call(executor, action, _arn("dynamodb", f"table/{store.split(':', 1)[1]}"), (), how)
            if env.get("PAYLINK_CAPTURE_URI"):
                yield Call(executor, "s3:PutObject", _s3_url_arn(env["PAYLINK_CAPTURE_URI"], "/2026-01-01/00/w.jsonl"),
                           (), how)
            if env.get("PAYLINK_ENDPOINT_NAME"):
                group = f"/aws/sagemaker/Endpoints/{env['PAYLINK_ENDPOINT_NAME']}"
                yield Call(executor, "logs:CreateLogStream", _arn("logs", f"log-group:{group}:log-stream:i-1"), (),
                           how)
                yield Call(executor, "logs:PutLogEvents", _arn("logs", f"log-group:{group}:log-stream:i-1"), (), how)
    if op == "CreateEndpointConfig":
        models = [v["ModelName"] for v in p.get("ProductionVariants", [])]
        state.config_models[p["EndpointConfigName"]] = models
        capture = (p.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
        for model in models:
            executor = _role_of(state.model_roles.get(model))
            if executor and capture:
                yield Call(executor, "s3:PutObject", _s3_url_arn(capture, "/e/AllTraffic/2026/01/01/00/x.jsonl"),
                           (), how)
    if op == "UpdateEndpoint":
        alarms = ((p.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])
        for model in state.config_models.get(p.get("EndpointConfigName", ""), []):
            executor = _role_of(state.model_roles.get(model))
            for alarm in alarms if executor else []:
                yield Call(executor, "cloudwatch:DescribeAlarms", _arn("cloudwatch", f"alarm:{alarm['AlarmName']}"),
                           (), how)
    if op == "RegisterScalableTarget" and p.get("ServiceNamespace") == "sagemaker":
        yield Call(role, "iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
                   "sagemaker.application-autoscaling.amazonaws.com/"
                   "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                   (("iam:AWSServiceName", "sagemaker.application-autoscaling.amazonaws.com"),), how)
        endpoint = _arn("sagemaker", f"endpoint/{p['ResourceId'].split('/')[1].lower()}")
        for action in ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"):
            yield Call(role, action, endpoint, (), how)
    if op == "PutScalingPolicy" and p.get("PolicyType") == "TargetTrackingScaling":
        # Target tracking creates and manages its own alarms, with the caller's permissions.
        for suffix in ("AlarmHigh", "AlarmLow"):
            alarm = _arn("cloudwatch", f"alarm:TargetTracking-{p['ResourceId']}-{suffix}-0b1c")
            for action in ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"):
                yield Call(role, action, alarm, (), how)
    if op in ("CreateStateMachine", "UpdateStateMachine") and p.get("roleArn"):
        yield pass_role(p["roleArn"], "states.amazonaws.com")
        machine = _role_of(p["roleArn"])
        if machine and p.get("definition"):
            yield from _state_machine_calls(machine, json.loads(p["definition"]), how)
    if op == "PutTargets":
        for target in p.get("Targets", []):
            if target.get("RoleArn"):
                yield pass_role(target["RoleArn"], "events.amazonaws.com")
                invoker = _role_of(target["RoleArn"])
                if invoker and ":states:" in target["Arn"]:
                    yield Call(invoker, "states:StartExecution", target["Arn"], (), how)
    if op == "RegisterJobDefinition":
        props = p.get("containerProperties") or {}
        for key in ("jobRoleArn", "executionRoleArn"):
            if props.get(key):
                yield pass_role(props[key], None)


def _states_of(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for st in definition.get("States", {}).values():
        yield st
        for branch in st.get("Branches", []):
            yield from _states_of(branch)
        for inner in (st.get("Iterator"), st.get("ItemProcessor")):
            if inner:
                yield from _states_of(inner)


def _state_machine_calls(role: str, definition: dict[str, Any], how: str) -> Iterator[Call]:
    """What the Step Functions role does running this definition (the service integrations it names)."""
    for st in _states_of(definition):
        resource, params = st.get("Resource", ""), st.get("Parameters", {})
        if resource.startswith("arn:aws:states:::batch:submitJob"):
            queue, job_def = params.get("JobQueue"), params.get("JobDefinition")
            if queue and job_def:
                yield Call(role, "batch:SubmitJob", _batch_arn("job-queue", queue), (), how)
                yield Call(role, "batch:SubmitJob", _batch_arn("job-definition", job_def), (), how)
            if resource.endswith(".sync"):
                yield Call(role, "batch:DescribeJobs", "*", (), how)
                yield Call(role, "batch:TerminateJob", _arn("batch", "job/0f1e"), (), how)
                rule = _arn("events", "rule/StepFunctionsGetEventsForBatchJobsRule")
                for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
                    yield Call(role, action, rule, (), how)
        elif resource.startswith("arn:aws:states:::dynamodb:"):
            action = "dynamodb:" + resource.rpartition(":")[2].split(".")[0][:1].upper() + \
                resource.rpartition(":")[2].split(".")[0][1:]
            yield Call(role, action, _arn("dynamodb", f"table/{params.get('TableName', '?')}"), (), how)
        elif resource.startswith("arn:aws:states:::states:startExecution"):
            target = params.get("StateMachineArn", "*")
            yield Call(role, "states:StartExecution", target, (), how)


def calls_of(requests: Iterable[LoggedRequest]) -> list[Call]:
    """Every call each role made (and every call implied on a role's behalf), in the order they happened."""
    out, state = [], _State()
    for req in requests:
        role = KEY_ROLES.get(req.access_key)
        if req.access_key == HARNESS_KEY:
            # The harness creates what a role's calls refer to: remember models and configs, judge nothing.
            if req.service == "sagemaker" and req.target:
                op, params = _operation_and_params(req)
                list(_implied("harness", op, params, state))
            continue
        if role is None:
            out.append(Call(f"unknown key {req.access_key!r}", f"{req.service}:?", req.path, (), "unattributed"))
            continue
        origin = f"{req.method} {req.path[:80]}"
        if req.service == "s3":
            out += [Call(role, a, r, tuple(c.items()), origin) for a, r, c in _s3_calls(req)]
            continue
        op, params = _operation_and_params(req)
        prefix = IAM_PREFIX.get(req.service, req.service)
        context = (("cloudwatch:namespace", params["Namespace"]),) if op == "PutMetricData" else ()
        out += [Call(role, f"{prefix}:{op}", r, context, f"{origin} {op}") for r in _resources(prefix, op, params)]
        out += list(_implied(role, op, params, state))
    return [c for c in out if c.action not in NO_PERMISSION_NEEDED]


def denied(calls: Iterable[Call]) -> list[Call]:
    """The calls their role's policy does not allow (one per role, action and resource)."""
    seen, out = set(), []
    for call in calls:
        key = (call.role, call.action, call.resource, call.context)
        if key in seen:
            continue
        seen.add(key)
        if call.role not in (*ROLE_KEYS, *SERVICE_ROLES.values()) or not (IAM / f"{call.role}-policy.json").is_file():
            out.append(call)
        elif not allowed(policy_of(call.role), call.action, call.resource, dict(call.context)):
            out.append(call)
    return out
