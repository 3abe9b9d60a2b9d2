"""Champion against live: the registry's champion of an environment and the run its endpoint serves.

Two records say what is "live": the champion tag (which `fraud serve --model champion`, MonitorFlow and
EvaluateFlow follow) and the endpoint itself (what card traffic is scored by). Every deploy path moves both
(deploy/release.py), but a `fraud models promote/rollback`, a bundle of no known run, or a failed step can
leave them apart. They may disagree, but never silently: `fraud deploy status` reports both with the
commands that bring them together, and `fraud models promote/rollback` warn through `warn_if_not_live`.
"""
from __future__ import annotations

from typing import Any

from deploy.clients import AwsClients
from deploy.config import DeployConfig
from fraudcore.registry import RegistryError
from fraudcore.registry.lookup import champion_run_id


def fix_commands(champion: str | None, live: str | None, environment: str) -> list[str]:
    """The commands that make champion and live agree, first the one that puts the champion live."""
    env = "" if environment == "production" else f" --env {environment}"
    out = []
    if champion is not None:
        out.append(f"fraud deploy sagemaker --run-id {champion} --reason '...'   # put the champion live")
    if live is not None:
        out.append(f"fraud models promote {live}{env} --force --reason '...'   # make the live run the champion")
    return out


def champion_vs_live(cfg: DeployConfig, live_run_id: str | None) -> dict[str, Any]:
    """The champion of the config's environment beside the live run, whether they agree, and the fix."""
    environment = cfg.endpoint.environment
    try:
        champion, error = champion_run_id(environment), ""
    except RegistryError as err:  # e.g. the tag on two runs: reported, the endpoint status still shown
        champion, error = None, str(err)
    agree = champion == live_run_id and not error
    out: dict[str, Any] = {"environment": environment, "champion_run_id": champion, "live_run_id": live_run_id,
                           "champion_is_live": agree}
    if error:
        out["champion_error"] = error
    if not agree:
        out["fix"] = fix_commands(champion, live_run_id, environment)
    return out


def deploy_status(clients: AwsClients, cfg: DeployConfig) -> dict[str, Any]:
    """`fraud deploy status`: what the endpoint serves, what the history says, and champion against live."""
    from deploy.sagemaker import endpoint_status

    status = endpoint_status(clients, cfg)
    return {**status, **champion_vs_live(cfg, status.get("run_id"))}


def warn_if_not_live(run_id: str, environment: str) -> str | None:
    """The `fraud.live` entry point `fraud models promote/rollback` call after moving `environment`'s champion.

    A warning when the environment's endpoint (config/deploy.toml) serves another run, naming the fix; a note
    when it could not be asked; None when it serves `run_id` or the config is for another environment.
    """
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from deploy.config import load_deploy_config
    from deploy.sagemaker import describe_endpoint, endpoint_status

    cfg = load_deploy_config()
    if cfg.endpoint.environment != environment:
        return None
    try:
        import boto3

        session = boto3.Session(region_name=cfg.region)
        # A laptop with no AWS credentials must not wait seconds on the instance metadata service: only
        # credentials from the environment, config files, SSO or a process are used for this check.
        resolver = session._session.get_component("credential_provider")
        for provider in ("iam-role", "container-role"):
            if resolver.get_provider(provider) is not None:
                resolver.remove(provider)
        if session.get_credentials() is None:
            return (f"the champion moved, but endpoint {cfg.endpoint.name!r} was not checked (no AWS "
                    "credentials in the environment or config files); run `fraud deploy status` where they are")
        quick = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1})
        clients = AwsClients.create(cfg, session, client_config=quick)
        live = endpoint_status(clients, cfg).get("run_id") if describe_endpoint(clients, cfg) else None
    except (BotoCoreError, ClientError) as err:
        return (f"the champion moved, but what endpoint {cfg.endpoint.name!r} serves could not be checked ({err}); "
                "run `fraud deploy status`")
    if live is None or live == run_id:
        return None
    fix = "; or ".join(fix_commands(run_id, live, environment))
    return (f"the {environment} champion is now run {run_id!r}, but endpoint {cfg.endpoint.name!r} serves run "
            f"{live!r}: card traffic is still scored by {live!r}. Fix: {fix}")
