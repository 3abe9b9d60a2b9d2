"""Deploy a verified bundle to a SageMaker real-time endpoint, and roll it back.

The path, all through boto3 (the same code runs against AWS and against the test emulator):
1. `stage_model`: verify the bundle, pack `model.tar.gz`, upload it to S3, create the Model and the
   EndpointConfig (one production variant, data capture to the capture prefix). Names carry the run
   id plus a short content hash, so staging the same run twice re-uses what exists.
2. `roll_out`: make sure the rollback alarms exist, then create the endpoint if it is new, or update
   it blue/green: a canary of `canary_percent` of capacity baked for `canary_bake_seconds` with
   AutoRollbackConfiguration on the alarms. Wait with the boto3 waiter, then check which config the
   endpoint actually serves: SageMaker may have rolled the canary back. Register autoscaling.
3. `smoke_test`: real `sagemaker-runtime invoke_endpoint` calls with schema-valid transactions; each
   answer must be a score in [0, 1] with a known decision, equal to what the bundle itself scores (so a
   wrong model behind the endpoint fails the smoke test, not only a dead one).
4. `deploy_bundle` runs 1-3, reverts to the previous config if the smoke test fails, and records the
   outcome in the deploy history.

Ownership: `check_ownership` runs before anything is created or changed. An existing endpoint is touched only
when it carries the project's tag (`paylink:owner`) for the configured environment (`paylink:environment`);
an endpoint someone else made is refused unless adopted (`adopt` with a reason), which tags it as ours and is
recorded (`adopted_from`: the config it served). Endpoints made before these tags existed carry
`paylink:run-id`, our older tag, and are taken as ours (and tagged on the next deploy). `rollback` returns the endpoint to the previous live run by updating
   it to that run's existing EndpointConfig.

A rollback update is all-at-once and does *not* carry the alarms: they are probably firing because of
the model being removed, and an auto-rollback of the rollback would keep the bad model live.
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from deploy.alarms import ensure_alarms, rollback_alarm_names
from deploy.autoscaling import ensure_autoscaling
from deploy.clients import AwsClients, DeployError
from deploy.config import DeployConfig
from deploy.behaviour import BehaviourReference, behaviour_reference, ensure_behaviour_alarms
from deploy.image import pin_image
from deploy.history import DeployRecord, HistoryError, append_record, now_iso, read_history, rollback_target
from deploy.smoke import SmokeResult, smoke_requests, smoke_test  # noqa: F401  (smoke_requests re-exported)
from fraudcore.bundle import Bundle, BundleError, load_bundle, package_bundle, unpack_bundle
from fraudcore.identity import who

RUN_ID_TAG = "paylink:run-id"
OWNER_TAG, OWNER = "paylink:owner", "paylink-fraud"
ENVIRONMENT_TAG = "paylink:environment"
_SLUG = re.compile(r"[^a-zA-Z0-9]+")
_MAX_SLUG = 29  # endpoint name (<= 24) + "-" + slug + "-" + 8 hex <= 63


@dataclass(frozen=True)
class StagedModel:
    """A run's model in S3 with its SageMaker Model and EndpointConfig, ready to go live."""

    run_id: str
    model_data_url: str
    archive_sha256: str
    model_name: str
    endpoint_config_name: str
    image_uri: str = ""  # the serving image by digest, pinned in the Model
    reference: dict[str, float] | None = None  # the bundle's reference behaviour (deploy/behaviour.py)


@dataclass(frozen=True)
class Adoption:
    """Taking over an endpoint that carries no project tag: only with a reason, and recorded."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise DeployError("adopting an endpoint that is not ours needs a reason (--adopt --reason WHY); "
                              f"got {self.reason!r}")


@dataclass(frozen=True)
class Ownership:
    """What `check_ownership` found: whether the endpoint exists, and the config it served if we adopted it."""

    exists: bool
    adopted_from: str = ""


@dataclass(frozen=True)
class RolloutResult:
    action: str  # "created", "updated", "unchanged" or "auto-rolled-back"
    endpoint_config_name: str  # the config the endpoint serves after the rollout
    previous_endpoint_config_name: str | None
    previous_run_id: str | None
    deployment_config: dict[str, Any] | None
    failure_reason: str = ""


@dataclass(frozen=True)
class DeployResult:
    staged: StagedModel
    rollout: RolloutResult
    smoke: SmokeResult | None
    record: DeployRecord


def resource_name(cfg: DeployConfig, run_id: str, *parts: str) -> str:
    """'<endpoint>-<run id slug>-<8 hex of run id and parts>': unique, valid and <= 63 characters."""
    slug = _SLUG.sub("-", run_id).strip("-")[:_MAX_SLUG].strip("-") or "run"
    digest = hashlib.sha256("\0".join((run_id, *parts)).encode()).hexdigest()[:8]
    return f"{cfg.endpoint.name}-{slug}-{digest}"


def _exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ClientError as err:
        if err.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound", "404", "NoSuchKey"):
            return False
        raise


def _identity(clients: AwsClients) -> str:
    return str(clients.sts.get_caller_identity()["Arn"])


def _run_id_of_config(clients: AwsClients, cfg: DeployConfig, config_name: str) -> str | None:
    """The run a config of ours serves; None for another's config (the deployer may not describe those)."""
    if not config_name.startswith(f"{cfg.endpoint.name}-"):
        return None
    arn = clients.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["EndpointConfigArn"]
    tags = clients.sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
    return next((t["Value"] for t in tags if t["Key"] == RUN_ID_TAG), None)


def upload_model(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, archive: Path,
                 sha256: str) -> str:
    """Upload model.tar.gz once per run; a different archive for an existing run id is refused."""
    bucket, key = cfg.storage.bucket, cfg.storage.model_key(bundle.version)
    try:
        head = clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    else:
        existing = head.get("Metadata", {}).get("sha256")
        if existing != sha256:
            raise DeployError(f"s3://{bucket}/{key} already holds a model for run {bundle.version!r} with "
                              f"sha256 {existing}, but this bundle packs to {sha256}: a run's model must "
                              "not change after it was uploaded")
        return f"s3://{bucket}/{key}"
    clients.s3.upload_file(str(archive), bucket, key, ExtraArgs={
        "Metadata": {"sha256": sha256, "run-id": bundle.version}, "ContentType": "application/gzip"})
    return f"s3://{bucket}/{key}"


def ensure_model(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, *, variant_name: str | None = None,
                 capture_uri: str | None = None) -> tuple[str, str, str, str]:
    """Upload model.tar.gz and create the SageMaker Model if missing: (name, model data url, sha256, image).

    `variant_name`/`capture_uri`: a Model for another role than the production variant (the shadow),
    which labels its metrics with that variant and writes its capture records elsewhere.
    """
    run_id = bundle.version
    variant_name = variant_name or cfg.endpoint.variant_name
    capture_uri = capture_uri or cfg.storage.service_capture_uri
    with tempfile.TemporaryDirectory(prefix="paylink-model-") as tmp:
        archive = Path(tmp) / "model.tar.gz"
        sha256 = package_bundle(bundle.path, archive)
        model_data_url = upload_model(clients, cfg, bundle, archive, sha256)
    tags = [{"Key": RUN_ID_TAG, "Value": run_id}]
    # The image by digest (deploy/image.py): the Model's name hashes it, so model and image go together.
    image = pin_image(clients.ecr, cfg.model.image_uri, required=cfg.release.require_image_digest)
    role = () if variant_name == cfg.endpoint.variant_name else (variant_name, capture_uri)
    model_name = resource_name(cfg, run_id, image, cfg.model.execution_role_arn, sha256, cfg.model.online_store, *role)
    if not _exists(clients.sagemaker.describe_model, ModelName=model_name):
        clients.sagemaker.create_model(
            ModelName=model_name, ExecutionRoleArn=cfg.model.execution_role_arn, Tags=tags,
            PrimaryContainer={
                "Image": image, "ModelDataUrl": model_data_url, "Mode": "SingleModel",
                # What the container needs to label its metrics (InvalidInputRate) and to write capture
                # records in the contract format, which MonitorFlow reads (SageMaker's own capture is
                # in SageMaker's format, kept beside it for audit).
                "Environment": {"PAYLINK_MODEL_VERSION": run_id, "PAYLINK_ENDPOINT_NAME": cfg.endpoint.name,
                                "PAYLINK_VARIANT_NAME": variant_name,
                                "PAYLINK_CAPTURE_URI": capture_uri,
                                "PAYLINK_CAPTURE_SAMPLE": f"{cfg.storage.capture_sampling_percent / 100:g}",
                                # the checkout form's store (docs/serving.md#the-checkout-form)
                                "PAYLINK_ONLINE_STORE": cfg.model.online_store},
            })
    return model_name, model_data_url, sha256, image


def stage_model(clients: AwsClients, cfg: DeployConfig, bundle: Bundle) -> StagedModel:
    """Pack (verifying again), upload; create the Model and EndpointConfig if they do not exist yet."""
    run_id = bundle.version
    tags = [{"Key": RUN_ID_TAG, "Value": run_id}]
    model_name, model_data_url, sha256, image = ensure_model(clients, cfg, bundle)
    ep, st = cfg.endpoint, cfg.storage
    variant = {"VariantName": ep.variant_name, "ModelName": model_name, "InstanceType": ep.instance_type,
               "InitialInstanceCount": ep.initial_instance_count, "InitialVariantWeight": 1.0}
    capture = {"EnableCapture": True, "InitialSamplingPercentage": st.capture_sampling_percent,
               "DestinationS3Uri": st.sagemaker_capture_uri,
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
               "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]}}
    config_name = resource_name(cfg, run_id, json.dumps([variant, capture], sort_keys=True))
    if not _exists(clients.sagemaker.describe_endpoint_config, EndpointConfigName=config_name):
        clients.sagemaker.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=[variant],
                                                 DataCaptureConfig=capture, Tags=tags)
    return StagedModel(run_id, model_data_url, sha256, model_name, config_name, image,
                       behaviour_reference(bundle).to_dict())


def canary_deployment_config(cfg: DeployConfig, behaviour_alarms: list[str] | None = None) -> dict[str, Any]:
    """Blue/green canary; rolls back on the rollout guards and on the new model's behaviour alarms."""
    r = cfg.rollout
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": r.canary_percent},
                "WaitIntervalInSeconds": r.canary_bake_seconds,
            },
            "TerminationWaitInSeconds": r.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": r.max_execution_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in
                                                 [*rollback_alarm_names(cfg), *(behaviour_alarms or [])]]},
    }


def rollback_deployment_config(cfg: DeployConfig) -> dict[str, Any]:
    return {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": cfg.rollout.termination_wait_seconds,
        "MaximumExecutionTimeoutInSeconds": cfg.rollout.max_execution_seconds,
    }}


def describe_endpoint(clients: AwsClients, cfg: DeployConfig) -> dict[str, Any] | None:
    try:
        return clients.sagemaker.describe_endpoint(EndpointName=cfg.endpoint.name)
    except ClientError as err:
        if err.response["Error"]["Code"] == "ValidationException" and "Could not find" in str(err):
            return None
        raise


def owner_tags(cfg: DeployConfig) -> list[dict[str, str]]:
    return [{"Key": OWNER_TAG, "Value": OWNER}, {"Key": ENVIRONMENT_TAG, "Value": cfg.endpoint.environment}]


def check_ownership(clients: AwsClients, cfg: DeployConfig, adopt: Adoption | None = None) -> Ownership:
    """Refuse an endpoint that is not ours (or is another environment's) unless adopted; adopting tags it ours.

    Runs before anything is created or changed, so a refusal leaves the account as it was.
    """
    current = describe_endpoint(clients, cfg)
    if current is None:
        return Ownership(exists=False)
    tags = {t["Key"]: t["Value"] for t in clients.sagemaker.list_tags(ResourceArn=current["EndpointArn"])
            .get("Tags", [])}
    ours = tags.get(OWNER_TAG) == OWNER or (OWNER_TAG not in tags and RUN_ID_TAG in tags)
    name = cfg.endpoint.name
    if ours:
        env = tags.get(ENVIRONMENT_TAG, "production")  # endpoints tagged before environments: production
        if env != cfg.endpoint.environment:
            raise DeployError(f"endpoint {name!r} serves environment {env!r} (tag {ENVIRONMENT_TAG}), but this "
                              f"deploy config is for {cfg.endpoint.environment!r}; nothing was changed. Use the "
                              f"config of environment {env!r}, or another endpoint.name")
        if tags.get(OWNER_TAG) != OWNER or ENVIRONMENT_TAG not in tags:
            clients.sagemaker.add_tags(ResourceArn=current["EndpointArn"], Tags=owner_tags(cfg))
        return Ownership(exists=True)
    if adopt is None:
        raise DeployError(f"endpoint {name!r} exists but is not ours: it does not carry the tag "
                          f"{OWNER_TAG}={OWNER} (its tags: {tags or 'none'}; it serves config "
                          f"{current['EndpointConfigName']!r}). Nothing was changed. If the project should take it "
                          "over, deploy again with --adopt --reason WHY (recorded); otherwise set another "
                          "endpoint.name in the deploy config")
    clients.sagemaker.add_tags(ResourceArn=current["EndpointArn"], Tags=owner_tags(cfg))
    return Ownership(exists=True, adopted_from=str(current["EndpointConfigName"]))


def _wait_in_service(clients: AwsClients, cfg: DeployConfig, endpoint_name: str | None = None) -> dict[str, Any]:
    r, name = cfg.rollout, endpoint_name or cfg.endpoint.name
    try:
        clients.sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name,
            WaiterConfig={"Delay": r.waiter_delay_seconds, "MaxAttempts": r.waiter_max_attempts})
    except WaiterError as err:
        state = clients.sagemaker.describe_endpoint(EndpointName=name) if name != cfg.endpoint.name else \
            describe_endpoint(clients, cfg) or {}
        raise DeployError(f"endpoint {name!r} did not reach InService: status "
                          f"{state.get('EndpointStatus')!r}, reason {state.get('FailureReason')!r}") from err
    return clients.sagemaker.describe_endpoint(EndpointName=name)


def _update(clients: AwsClients, cfg: DeployConfig, config_name: str, deployment: dict[str, Any]) -> dict[str, Any]:
    clients.sagemaker.update_endpoint(
        EndpointName=cfg.endpoint.name, EndpointConfigName=config_name, DeploymentConfig=deployment,
        # Keep the instance count autoscaling chose (a deploy at peak must not shrink the fleet),
        # but take the new config's data capture settings.
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DataCaptureConfig"}])
    return _wait_in_service(clients, cfg)


def roll_out(clients: AwsClients, cfg: DeployConfig, staged: StagedModel) -> RolloutResult:
    """Create the endpoint, or update it blue/green with a canary; report what is live afterwards.

    The endpoint must be ours (`check_ownership`; a deploy adopts it first when asked to).
    """
    check_ownership(clients, cfg)
    ensure_alarms(clients.cloudwatch, cfg)
    current = describe_endpoint(clients, cfg)
    if current is None:
        clients.sagemaker.create_endpoint(EndpointName=cfg.endpoint.name,
                                          EndpointConfigName=staged.endpoint_config_name,
                                          Tags=[{"Key": RUN_ID_TAG, "Value": staged.run_id}, *owner_tags(cfg)])
        _wait_in_service(clients, cfg)
        ensure_autoscaling(clients.autoscaling, cfg)
        return RolloutResult("created", staged.endpoint_config_name, None, None, None)
    if current["EndpointStatus"] != "InService":
        raise DeployError(f"endpoint {cfg.endpoint.name!r} is {current['EndpointStatus']!r}, not InService: "
                          "another deployment is in progress or failed; nothing was changed")
    previous = current["EndpointConfigName"]
    previous_run = _run_id_of_config(clients, cfg, previous)
    if previous == staged.endpoint_config_name:
        ensure_autoscaling(clients.autoscaling, cfg)
        return RolloutResult("unchanged", previous, previous, previous_run, None)
    behaviour = ensure_behaviour_alarms(clients.cloudwatch, cfg, staged.run_id,
                                        BehaviourReference(**staged.reference)) if staged.reference else []
    deployment = canary_deployment_config(cfg, behaviour)
    after = _update(clients, cfg, staged.endpoint_config_name, deployment)
    ensure_autoscaling(clients.autoscaling, cfg)
    if after["EndpointConfigName"] != staged.endpoint_config_name:
        return RolloutResult("auto-rolled-back", after["EndpointConfigName"], previous, previous_run, deployment,
                             failure_reason=after.get("FailureReason", ""))
    return RolloutResult("updated", staged.endpoint_config_name, previous, previous_run, deployment)


def _record(clients: AwsClients, cfg: DeployConfig, **fields: Any) -> DeployRecord:
    record = DeployRecord(endpoint_name=cfg.endpoint.name, at=now_iso(), by=who(),
                          aws_identity=_identity(clients), **fields)
    append_record(clients.s3, cfg, record)
    return record


def finish_rollout(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, staged: StagedModel,
                   rollout: RolloutResult, *, reason: str, forced: bool, source: str = "run", gate: str = "",
                   adopted_from: str = "") -> DeployResult:
    """After `roll_out`: report an automatic rollback, smoke test, revert on failure, record the outcome."""
    common = dict(run_id=staged.run_id, previous_run_id=rollout.previous_run_id, model_name=staged.model_name,
                  endpoint_config_name=staged.endpoint_config_name,
                  previous_endpoint_config_name=rollout.previous_endpoint_config_name,
                  model_data_url=staged.model_data_url, reason=reason, forced=forced, source=source, gate=gate,
                  adopted_from=adopted_from, environment=cfg.endpoint.environment)
    if rollout.action == "auto-rolled-back":
        _record(clients, cfg, event="deploy", outcome="auto-rolled-back", detail=rollout.failure_reason, **common)
        raise DeployError(f"SageMaker rolled the canary of run {staged.run_id!r} back: "
                          f"{rollout.failure_reason or 'an alarm fired'}; run {rollout.previous_run_id!r} "
                          f"(config {rollout.endpoint_config_name!r}) is still live")
    try:
        smoke = smoke_test(clients, cfg, bundle)
    except DeployError as err:
        if rollout.previous_endpoint_config_name is None or rollout.action == "unchanged":
            _record(clients, cfg, event="deploy", outcome="failed", detail=str(err), **common)
            raise DeployError(f"{err}; there is no earlier config to revert to, so endpoint "
                              f"{cfg.endpoint.name!r} still serves run {staged.run_id!r}") from err
        _update(clients, cfg, rollout.previous_endpoint_config_name, rollback_deployment_config(cfg))
        _record(clients, cfg, event="deploy", outcome="reverted", detail=str(err), **common)
        raise DeployError(f"{err}; reverted endpoint {cfg.endpoint.name!r} to run {rollout.previous_run_id!r} "
                          f"(config {rollout.previous_endpoint_config_name!r})") from err
    record = _record(clients, cfg, event="deploy", outcome="live", detail=rollout.action, **common)
    return DeployResult(staged, rollout, smoke, record)


def deploy_bundle(clients: AwsClients, cfg: DeployConfig, bundle: Bundle | str | Path, *, reason: str,
                  forced: bool = False, source: str = "run", gate: str = "",
                  adopt: Adoption | None = None) -> DeployResult:
    """Verify, check ownership, stage, roll out, smoke test and record (DeployFlow runs the same parts as steps).

    `bundle` is a loaded bundle or its directory. A bundle that fails verification raises BundleError
    before any AWS call; an endpoint that is not ours (and not adopted) raises DeployError before any change.
    The gate rules are `deploy.release`'s: call this through `deploy_release`.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    ownership = check_ownership(clients, cfg, adopt)
    staged = stage_model(clients, cfg, bundle)
    check_before_traffic(clients, cfg, bundle, staged, reason=reason, forced=forced, source=source)
    rollout = roll_out(clients, cfg, staged)
    result = finish_rollout(clients, cfg, bundle, staged, rollout, reason=reason, forced=forced, source=source,
                            gate=gate, adopted_from=ownership.adopted_from)
    clean_up_releases(clients, cfg)
    return result


def check_before_traffic(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, staged: StagedModel, *,
                         reason: str, forced: bool, source: str = "run") -> SmokeResult | None:
    """The preflight (deploy/preflight.py) before an existing endpoint's canary; recorded if it fails."""
    from deploy.preflight import run_preflight

    current = describe_endpoint(clients, cfg)
    if not cfg.release.preflight or current is None or current["EndpointConfigName"] == staged.endpoint_config_name:
        return None
    try:
        return run_preflight(clients, cfg, bundle, staged)
    except DeployError as err:
        _record(clients, cfg, event="deploy", outcome="preflight-failed", run_id=staged.run_id,
                previous_run_id=_run_id_of_config(clients, cfg, current["EndpointConfigName"]),
                model_name=staged.model_name, endpoint_config_name=staged.endpoint_config_name,
                previous_endpoint_config_name=current["EndpointConfigName"], model_data_url=staged.model_data_url,
                reason=reason, forced=forced, source=source, detail=str(err), environment=cfg.endpoint.environment)
        raise DeployError(f"{err}; endpoint {cfg.endpoint.name!r} was not touched: it still serves "
                          f"{current['EndpointConfigName']!r}") from err


def clean_up_releases(clients: AwsClients, cfg: DeployConfig) -> list[str]:
    """Delete Models and EndpointConfigs no rollback needs (deploy/cleanup.py)."""
    from deploy.cleanup import clean_up

    return clean_up(clients, cfg)


def _bundle_from_s3(clients: AwsClients, model_data_url: str, dest: Path) -> Bundle:
    """Download a deployed model.tar.gz, unpack it (verified) and load it."""
    bucket, _, key = model_data_url.removeprefix("s3://").partition("/")
    archive = dest / "model.tar.gz"
    clients.s3.download_file(bucket, key, str(archive))
    return load_bundle(unpack_bundle(archive, dest / "bundle"))


def rollback(clients: AwsClients, cfg: DeployConfig, *, reason: str) -> DeployRecord:
    """Return the endpoint to the previous live run, using that run's existing EndpointConfig.

    The run's model.tar.gz is fetched back from S3 first, so the smoke test afterwards checks the
    endpoint against exactly the model it now serves.
    """
    live, target = rollback_target(read_history(clients.s3, cfg))
    check_ownership(clients, cfg)
    current = describe_endpoint(clients, cfg)
    if current is None:
        raise DeployError(f"rollback: endpoint {cfg.endpoint.name!r} does not exist")
    if current["EndpointStatus"] != "InService":
        raise DeployError(f"rollback: endpoint {cfg.endpoint.name!r} is {current['EndpointStatus']!r}, "
                          "not InService; nothing was changed")
    if not _exists(clients.sagemaker.describe_endpoint_config, EndpointConfigName=target.endpoint_config_name):
        raise DeployError(f"rollback: endpoint config {target.endpoint_config_name!r} of run {target.run_id!r} "
                          "no longer exists; deploy that run again instead")
    with tempfile.TemporaryDirectory(prefix="paylink-rollback-") as tmp:
        bundle = _bundle_from_s3(clients, target.model_data_url, Path(tmp))
        after = _update(clients, cfg, target.endpoint_config_name, rollback_deployment_config(cfg))
        if after["EndpointConfigName"] != target.endpoint_config_name:
            raise DeployError(f"rollback: endpoint {cfg.endpoint.name!r} still serves "
                              f"{after['EndpointConfigName']!r} after updating to {target.endpoint_config_name!r}")
        try:
            smoke_test(clients, cfg, bundle)
            detail = ""
        except DeployError as err:
            detail = f"smoke test failed after the rollback: {err}"
        record = _record(clients, cfg, event="rollback", outcome="live", run_id=target.run_id,
                         previous_run_id=live.run_id, model_name=target.model_name,
                         endpoint_config_name=target.endpoint_config_name,
                         previous_endpoint_config_name=current["EndpointConfigName"],
                         model_data_url=target.model_data_url, reason=reason, forced=False, source=target.source,
                         detail=detail, gate=target.gate, environment=cfg.endpoint.environment)
    if detail:
        raise DeployError(f"rollback: endpoint {cfg.endpoint.name!r} now serves run {target.run_id!r}, but the "
                          f"{detail}")
    return record


def endpoint_status(clients: AwsClients, cfg: DeployConfig) -> dict[str, Any]:
    """What the endpoint serves now, and what the history says is live."""
    current = describe_endpoint(clients, cfg)
    try:
        records = read_history(clients.s3, cfg)
    except ClientError as err:
        if err.response["Error"]["Code"] != "NoSuchBucket":
            raise
        records = []
    live = next((r for r in reversed(records) if r.outcome == "live"), None)
    status: dict[str, Any] = {"endpoint_name": cfg.endpoint.name, "exists": current is not None,
                              "history_events": len(records),
                              "history_live_run_id": live.run_id if live else None}
    if current is not None:
        status.update(endpoint_status=current["EndpointStatus"],
                      endpoint_config_name=current["EndpointConfigName"],
                      run_id=_run_id_of_config(clients, cfg, current["EndpointConfigName"]),
                      failure_reason=current.get("FailureReason"),
                      variants=[{k: v for k, v in variant.items() if k in ("VariantName", "CurrentInstanceCount",
                                                                          "DesiredInstanceCount")}
                                for variant in current.get("ProductionVariants", [])])
    return status


__all__ = ["Adoption", "AwsClients", "BundleError", "DeployError", "DeployResult", "HistoryError", "SmokeResult", "StagedModel",
           "canary_deployment_config", "check_ownership", "deploy_bundle", "endpoint_status", "finish_rollout", "roll_out", "rollback",
           "rollback_deployment_config", "smoke_requests", "smoke_test", "stage_model"]
