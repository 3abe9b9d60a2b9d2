"""The approval request of the weekly chain: SageMaker Model Registry, one ModelPackage per candidate run.

    TrainFlow (weekly schedule) -> EvaluateFlow --challenger latest --request-approval
        -> a ModelPackage in group `approval.model_package_group`, status PendingManualApproval,
           carrying the run id, the evaluation's headline metrics and where its card is
    approve (console, API, or `fraud models approve RUN_ID --reason WHY`)
        -> SageMaker emits "SageMaker Model Package State Change" (ModelApprovalStatus Approved)
        -> the EventBridge rule in deploy/infra/template.yaml starts DeployFlow's state machine with
           train_run = the package's run id -> preflight, canary, smoke test, champion.
    reject (`fraud models reject RUN_ID --reason WHY`, or the console) -> recorded; nothing deploys.

The registry holds the package; our own record of every decision made through the CLI (who, why, when)
is one S3 object per decision under `<history_prefix>/_approvals/<group>/`, beside the deploy history.
A decision made in the console is recorded by SageMaker alone (its ApprovalDescription and
LastModifiedBy) and reaches DeployFlow the same way.

The package carries no InferenceSpecification: DeployFlow deploys the *run* (its bundle, image pinned by
digest at deploy time), so the registry is the approval gate, not a second copy of the model.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from deploy.clients import AwsClients, DeployError
from deploy.config import DeployConfig
from fraudcore.identity import who

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
RUN_ID_KEY = "run_id"
EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
_METRIC_PREFIX = "metric:"


@dataclass(frozen=True)
class ApprovalRecord:
    """One decision on a candidate: what the CLI writes beside the deploy history."""

    decision: str  # "Approved" or "Rejected"
    run_id: str
    model_package_arn: str
    reason: str
    by: str
    aws_identity: str
    at: str


def ensure_group(clients: AwsClients, cfg: DeployConfig) -> str:
    """The model package group's ARN, created if missing."""
    name = cfg.approval.model_package_group
    try:
        return str(clients.sagemaker.describe_model_package_group(ModelPackageGroupName=name)["ModelPackageGroupArn"])
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
    return str(clients.sagemaker.create_model_package_group(
        ModelPackageGroupName=name, ModelPackageGroupDescription="PayLink fraud: weekly candidates awaiting approval",
        Tags=[{"Key": "paylink:project", "Value": "paylink-fraud"}])["ModelPackageGroupArn"])


def _packages(clients: AwsClients, cfg: DeployConfig) -> list[dict[str, Any]]:
    sm = clients.sagemaker
    arns = [p["ModelPackageArn"] for page in sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=cfg.approval.model_package_group) for p in page["ModelPackageSummaryList"]]
    return [sm.describe_model_package(ModelPackageName=arn) for arn in arns]


def find_package(clients: AwsClients, cfg: DeployConfig, run_id: str) -> dict[str, Any] | None:
    """The newest package of `run_id` in the group, or None."""
    mine = [p for p in _packages(clients, cfg) if (p.get("CustomerMetadataProperties") or {}).get(RUN_ID_KEY) == run_id]
    return max(mine, key=lambda p: p["ModelPackageVersion"]) if mine else None


def request_approval(clients: AwsClients, cfg: DeployConfig, *, run_id: str, metrics: dict[str, float],
                     card: str, evaluation: str) -> dict[str, Any]:
    """A PendingManualApproval package for `run_id` (the existing one if this run already has one)."""
    ensure_group(clients, cfg)
    existing = find_package(clients, cfg, run_id)
    if existing is not None:
        return existing
    properties = {RUN_ID_KEY: run_id, "card": card, "evaluation": evaluation, "requested_by": who(),
                  **{f"{_METRIC_PREFIX}{k}": f"{v:.6g}" for k, v in sorted(metrics.items())}}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))
    arn = clients.sagemaker.create_model_package(
        ModelPackageGroupName=cfg.approval.model_package_group, ModelApprovalStatus=PENDING,
        ModelPackageDescription=f"TrainFlow run {run_id}: {summary}"[:1024],
        CustomerMetadataProperties=properties, Tags=[{"Key": "paylink:run-id", "Value": run_id}],
    )["ModelPackageArn"]
    return clients.sagemaker.describe_model_package(ModelPackageName=arn)


def _approvals_prefix(cfg: DeployConfig) -> str:
    return f"{cfg.storage.history_prefix}/_approvals/{cfg.approval.model_package_group}/"


def decide(clients: AwsClients, cfg: DeployConfig, run_id: str, *, approve: bool, reason: str,
           user: str | None = None) -> ApprovalRecord:
    """Approve or reject `run_id`'s pending package; recorded in S3, and SageMaker emits the state change."""
    decision = APPROVED if approve else REJECTED
    if not reason.strip():
        raise DeployError(f"{decision.lower()} of run {run_id!r} needs a reason; got {reason!r}")
    package = find_package(clients, cfg, run_id)
    if package is None:
        raise DeployError(f"run id {run_id!r}: no model package in group {cfg.approval.model_package_group!r}; "
                          "the weekly chain requests approval after EvaluateFlow (or run it with "
                          "--request-approval)")
    status = package["ModelApprovalStatus"]
    if status != PENDING:
        raise DeployError(f"run id {run_id!r}: model package {package['ModelPackageArn']} is {status!r}, not "
                          f"{PENDING!r}; a decision is made once (request a new package to decide again)")
    by = who(user)
    properties = {**(package.get("CustomerMetadataProperties") or {}), "decided_by": by, "decision_reason": reason}
    clients.sagemaker.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=decision,
                                           ApprovalDescription=f"{reason} (by {by})"[:1024],
                                           CustomerMetadataProperties=properties)
    at = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    record = ApprovalRecord(decision, run_id, package["ModelPackageArn"], reason, by,
                            str(clients.sts.get_caller_identity()["Arn"]), at)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    clients.s3.put_object(Bucket=cfg.storage.bucket,
                          Key=f"{_approvals_prefix(cfg)}{stamp}-{decision.lower()}-{uuid.uuid4().hex[:8]}.json",
                          Body=json.dumps(asdict(record), sort_keys=True).encode(), ContentType="application/json")
    return record


def approval_history(clients: AwsClients, cfg: DeployConfig) -> list[ApprovalRecord]:
    """Every decision made through `decide`, oldest first."""
    keys = [o["Key"] for page in clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=cfg.storage.bucket, Prefix=_approvals_prefix(cfg)) for o in page.get("Contents", [])]
    return [ApprovalRecord(**json.loads(clients.s3.get_object(Bucket=cfg.storage.bucket, Key=k)["Body"].read()))
            for k in sorted(keys)]


def metrics_of(package: dict[str, Any]) -> dict[str, float]:
    """The headline metrics a package carries."""
    props = package.get("CustomerMetadataProperties") or {}
    return {k[len(_METRIC_PREFIX):]: float(v) for k, v in props.items() if k.startswith(_METRIC_PREFIX)}


# ---- The chain's EvaluateFlow side -----------------------------------------------------------------------

LATEST = "latest"
MATURED_WINDOW_DAYS = 7


def resolve_challenger(spec: str) -> str:
    """'' (none), a run id, or "latest": the newest successful TrainFlow run tagged gate:passed."""
    from fraudcore.registry import RegistryError
    from fraudcore.registry.lookup import latest_passed_run_id, resolve

    if spec != LATEST:
        return resolve(spec) if spec else ""
    rid = latest_passed_run_id()
    if rid is None:
        raise RegistryError("challenger 'latest': no successful TrainFlow run is tagged 'gate:passed'")
    return rid


def matured_window(start: str, end: str, maturity_days: int, today: Any = None) -> tuple[str, str]:
    """The window as given; or, with none given and `maturity_days` > 0, the 7 days ending that long ago."""
    from datetime import date, timedelta

    if start or end or maturity_days <= 0:
        return start, end
    if maturity_days > 365:
        raise ValueError(f"parameter 'label_maturity_days' must be <= 365; got {maturity_days}")
    last = (today or date.today()) - timedelta(days=maturity_days)
    return (last - timedelta(days=MATURED_WINDOW_DAYS)).isoformat(), last.isoformat()


def request_for_evaluation(requested: bool, model_run_id: str, challenger_run_id: str,
                           summary: dict[str, dict[str, float]], *, evaluation: str, card: str,
                           cfg: DeployConfig | None = None, clients: AwsClients | None = None) -> str:
    """EvaluateFlow's approval step: the package ARN, or "" (not asked, no challenger, or it is the model)."""
    if not requested:
        return ""
    if not challenger_run_id or challenger_run_id == model_run_id:
        print(f"approval: nothing new to approve (challenger {challenger_run_id!r}, model {model_run_id!r})")
        return ""
    from deploy.config import load_deploy_config

    cfg = cfg or load_deploy_config()
    clients = clients or AwsClients.create(cfg)
    metrics = {**{k: float(v) for k, v in summary["challenger"].items()},
               **{f"champion_{k}": float(v) for k, v in summary["model"].items()}}
    package = request_approval(clients, cfg, run_id=challenger_run_id, metrics=metrics, card=card,
                               evaluation=evaluation)
    print(f"approval: run {challenger_run_id} waits in {package['ModelPackageArn']} "
          f"({package['ModelApprovalStatus']}); approve with `fraud models approve {challenger_run_id} --reason ...`")
    return str(package["ModelPackageArn"])
