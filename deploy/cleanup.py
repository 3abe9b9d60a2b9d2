"""Old Models and EndpointConfigs: delete what no rollback needs, never what one does.

Every deploy creates a Model and an EndpointConfig (names `<endpoint>-<run>-<hash>`, tagged with the run
id). Left alone they pile up (SageMaker has account quotas on both). `clean_up` keeps:

- the config the endpoint serves now, and its Model(s), production and shadow;
- the configs of the last `release.keep_releases` earlier live releases in the deploy history (what
  `fraud deploy rollback` returns to, one step at a time), and their Models;
- anything the history names that is newer than the live release (a deploy in flight);

and deletes the other configs and Models of this endpoint. Resources of other endpoints, and untagged
ones, are never touched. The model.tar.gz in S3 stays (cheap, and the run can be staged again).
"""
from __future__ import annotations

from deploy.clients import AwsClients
from deploy.config import DeployConfig
from deploy.history import live_stack, read_history


def _ours(clients: AwsClients, arn: str) -> bool:
    from deploy.sagemaker import RUN_ID_TAG

    return any(t["Key"] == RUN_ID_TAG for t in clients.sagemaker.list_tags(ResourceArn=arn).get("Tags", []))


def _models_of(clients: AwsClients, config_name: str) -> set[str]:
    config = clients.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    return {v["ModelName"] for v in [*config.get("ProductionVariants", []), *config.get("ShadowProductionVariants", [])]}


def protected(clients: AwsClients, cfg: DeployConfig) -> tuple[set[str], set[str]]:
    """(config names, model names) that must stay: live now and the rollback targets."""
    from deploy.sagemaker import _exists, describe_endpoint

    configs: set[str] = set()
    current = describe_endpoint(clients, cfg)
    if current is not None:
        configs.add(current["EndpointConfigName"])
    stack = live_stack(read_history(clients.s3, cfg))
    configs |= {r.endpoint_config_name for r in stack[-(cfg.release.keep_releases + 1):]}
    models = {r.model_name for r in stack[-(cfg.release.keep_releases + 1):]}
    for name in list(configs):
        if _exists(clients.sagemaker.describe_endpoint_config, EndpointConfigName=name):
            models |= _models_of(clients, name)
    return configs, models


def clean_up(clients: AwsClients, cfg: DeployConfig) -> list[str]:
    """Delete this endpoint's configs and Models that are not protected; return what was deleted."""
    keep_configs, keep_models = protected(clients, cfg)
    prefix = f"{cfg.endpoint.name}-"
    deleted: list[str] = []
    sm = clients.sagemaker
    configs = [c for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=prefix)
               for c in page["EndpointConfigs"] if c["EndpointConfigName"].startswith(prefix)]
    for c in configs:
        name = c["EndpointConfigName"]
        if name in keep_configs or not _ours(clients, c["EndpointConfigArn"]):
            continue
        sm.delete_endpoint_config(EndpointConfigName=name)
        deleted.append(f"endpoint-config/{name}")
    models = [m for page in sm.get_paginator("list_models").paginate(NameContains=prefix)
              for m in page["Models"] if m["ModelName"].startswith(prefix)]
    for m in models:
        name = m["ModelName"]
        if name in keep_models or not _ours(clients, m["ModelArn"]):
            continue
        sm.delete_model(ModelName=name)
        deleted.append(f"model/{name}")
    return deleted
