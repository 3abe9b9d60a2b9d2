"""The preflight: smoke test a new model on its own short-lived endpoint before the canary starts.

Why not a second variant on the live endpoint (InvokeEndpoint with TargetVariant)? SageMaker's
blue/green canary needs the same variant names in the old and new configs
(docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html). A weight-0 "candidate"
variant on the live endpoint would therefore cost three fleet replacements (add the variant, remove it,
then the canary), each re-provisioning the live fleet. A one-instance preflight endpoint costs one small
fleet for a few minutes and never touches the live endpoint: if the model answers wrong, nothing that
serves customers changed.

`run_preflight` creates `<endpoint>-preflight` from a one-instance config of the new Model (the same
image digest and model.tar.gz the canary will use, no data capture), sends the smoke requests, checks
every answer equals the bundle's own score, and deletes the endpoint and its config whatever happened.
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from deploy.clients import AwsClients, DeployError
from deploy.config import DeployConfig
from deploy.smoke import SmokeResult, smoke_test
from fraudcore.bundle import Bundle

PREFLIGHT_SUFFIX = "-preflight"
PROJECT_TAG = "paylink:role"


def preflight_endpoint_name(cfg: DeployConfig) -> str:
    return f"{cfg.endpoint.name}{PREFLIGHT_SUFFIX}"


def _delete(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise


def tear_down(clients: AwsClients, cfg: DeployConfig) -> None:
    """Delete the preflight endpoint and its config, if they exist (also a crashed run's leftovers)."""
    name = preflight_endpoint_name(cfg)
    try:
        config = clients.sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    except ClientError:
        return
    _delete(clients.sagemaker.delete_endpoint, EndpointName=name)
    _delete(clients.sagemaker.delete_endpoint_config, EndpointConfigName=config)


def run_preflight(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, staged: Any) -> SmokeResult:
    """Smoke test `staged` (a StagedModel) on `<endpoint>-preflight`; DeployError if any answer is wrong."""
    from deploy.sagemaker import RUN_ID_TAG, _wait_in_service, resource_name

    name = preflight_endpoint_name(cfg)
    tear_down(clients, cfg)
    config = resource_name(cfg, staged.run_id, "preflight", staged.model_name)
    tags = [{"Key": RUN_ID_TAG, "Value": staged.run_id}, {"Key": PROJECT_TAG, "Value": "preflight"}]
    clients.sagemaker.create_endpoint_config(EndpointConfigName=config, Tags=tags, ProductionVariants=[{
        "VariantName": cfg.endpoint.variant_name, "ModelName": staged.model_name,
        "InstanceType": cfg.endpoint.instance_type, "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}])
    try:
        clients.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=tags)
        _wait_in_service(clients, cfg, name)
        try:
            return smoke_test(clients, cfg, bundle, endpoint_name=name)
        except DeployError as err:
            raise DeployError(f"preflight of run {staged.run_id!r} on {name!r}: {err}") from err
    finally:
        _delete(clients.sagemaker.delete_endpoint, EndpointName=name)
        _delete(clients.sagemaker.delete_endpoint_config, EndpointConfigName=config)
