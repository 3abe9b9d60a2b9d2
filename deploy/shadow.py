"""Shadow testing: a challenger scores a copy of live traffic and never affects a decision.

    fraud deploy shadow RUN_ID [--reason WHY]    start: the live endpoint gets a shadow variant
    fraud deploy shadow-stop [--reason WHY]      back to the live config, without the shadow
    fraud deploy shadow-report [--json]          compare the two from capture

`start_shadow` makes an EndpointConfig with the live config's production variants and data capture,
*unchanged*, plus one SageMaker shadow variant (ShadowProductionVariants) serving the challenger.
SageMaker sends every request to the production variant, answers the caller from it, and mirrors a
copy to the shadow; the shadow's answers go nowhere but its own capture. The challenger's Model is
its own (`ensure_model` with the shadow variant name): its metrics carry VariantName=<shadow>, so the
live variant's rollback alarms never see them, and it writes capture records under
`<capture_prefix>/shadow`, apart from the live ones MonitorFlow reads.

The shadow config is tagged with the *live* run id (what the endpoint answers with), so status, the
deploy history and rollback keep working; a later deploy's canary replaces it (same production variant
names) and the shadow ends with it. Starts and stops are recorded under `<history_prefix>/_shadow/`.

`shadow_report` joins live and shadow capture records by transaction id (request ids differ: each
container names its own) and reports agreement of decisions, the score shift and the alert-rate change.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from deploy.clients import AwsClients, DeployError
from deploy.config import DeployConfig
from fraudcore.bundle import Bundle
from fraudcore.identity import who

SHADOW_RUN_TAG = "paylink:shadow-run-id"
ALERTS = ("review", "decline")


@dataclass(frozen=True)
class ShadowRecord:
    event: str  # "shadow-start" or "shadow-stop"
    endpoint_name: str
    shadow_run_id: str
    live_run_id: str | None
    endpoint_config_name: str
    previous_endpoint_config_name: str
    reason: str
    by: str
    at: str


def shadow_capture_uri(cfg: DeployConfig) -> str:
    return f"s3://{cfg.storage.bucket}/{cfg.storage.capture_prefix}/shadow"


def _prefix(cfg: DeployConfig) -> str:
    return f"{cfg.storage.history_prefix}/_shadow/{cfg.endpoint.name}/"


def _record(clients: AwsClients, cfg: DeployConfig, record: ShadowRecord) -> ShadowRecord:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    clients.s3.put_object(Bucket=cfg.storage.bucket, Key=f"{_prefix(cfg)}{stamp}-{record.event}-{uuid.uuid4().hex[:8]}.json",
                          Body=json.dumps(asdict(record), sort_keys=True).encode(), ContentType="application/json")
    return record


def shadow_history(clients: AwsClients, cfg: DeployConfig) -> list[ShadowRecord]:
    keys = [o["Key"] for page in clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=cfg.storage.bucket, Prefix=_prefix(cfg)) for o in page.get("Contents", [])]
    return [ShadowRecord(**json.loads(clients.s3.get_object(Bucket=cfg.storage.bucket, Key=k)["Body"].read()))
            for k in sorted(keys)]


def _live(clients: AwsClients, cfg: DeployConfig) -> dict[str, Any]:
    from deploy.sagemaker import describe_endpoint

    current = describe_endpoint(clients, cfg)
    if current is None:
        raise DeployError(f"shadow: endpoint {cfg.endpoint.name!r} does not exist; deploy a live model first")
    if current["EndpointStatus"] != "InService":
        raise DeployError(f"shadow: endpoint {cfg.endpoint.name!r} is {current['EndpointStatus']!r}, not InService; "
                          "nothing was changed")
    return current


def _update_all_at_once(clients: AwsClients, cfg: DeployConfig, config_name: str) -> dict[str, Any]:
    from deploy.sagemaker import _update, rollback_deployment_config

    return _update(clients, cfg, config_name, rollback_deployment_config(cfg))


def start_shadow(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, *, reason: str) -> ShadowRecord:
    """Put `bundle` beside the live model as a shadow variant; the live answers do not change."""
    from deploy.sagemaker import RUN_ID_TAG, _exists, _run_id_of_config, ensure_model, resource_name

    current = _live(clients, cfg)
    live_config_name = current["EndpointConfigName"]
    live = clients.sagemaker.describe_endpoint_config(EndpointConfigName=live_config_name)
    if live.get("ShadowProductionVariants"):
        raise DeployError(f"shadow: endpoint {cfg.endpoint.name!r} already runs a shadow (config "
                          f"{live_config_name!r}); stop it first with `fraud deploy shadow-stop`")
    live_run = _run_id_of_config(clients, cfg, live_config_name)
    if live_run == bundle.version:
        raise DeployError(f"shadow: run {bundle.version!r} is the live model; a shadow must be another run")
    model_name, *_ = ensure_model(clients, cfg, bundle, variant_name=cfg.release.shadow_variant_name,
                                  capture_uri=shadow_capture_uri(cfg))
    production = [{k: v for k, v in variant.items() if k in ("VariantName", "ModelName", "InstanceType",
                                                               "InitialInstanceCount", "InitialVariantWeight")}
                  for variant in live["ProductionVariants"]]
    # A full copy of the traffic needs the live fleet's capacity.
    count = max(v.get("CurrentInstanceCount") or 1 for v in current.get("ProductionVariants", [{}]))
    shadow = [{"VariantName": cfg.release.shadow_variant_name, "ModelName": model_name,
               "InstanceType": cfg.endpoint.instance_type, "InitialInstanceCount": count,
               "InitialVariantWeight": 1.0}]
    name = resource_name(cfg, live_run or "live", "shadow", live_config_name, model_name)
    if not _exists(clients.sagemaker.describe_endpoint_config, EndpointConfigName=name):
        extra = {"DataCaptureConfig": live["DataCaptureConfig"]} if live.get("DataCaptureConfig") else {}
        clients.sagemaker.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=production, ShadowProductionVariants=shadow,
            Tags=[{"Key": RUN_ID_TAG, "Value": live_run or ""}, {"Key": SHADOW_RUN_TAG, "Value": bundle.version}],
            **extra)
    after = _update_all_at_once(clients, cfg, name)
    if after["EndpointConfigName"] != name:
        raise DeployError(f"shadow: endpoint {cfg.endpoint.name!r} still serves {after['EndpointConfigName']!r} "
                          f"after updating to {name!r}")
    return _record(clients, cfg, ShadowRecord("shadow-start", cfg.endpoint.name, bundle.version, live_run, name,
                                              live_config_name, reason, who(), _now()))


def stop_shadow(clients: AwsClients, cfg: DeployConfig, *, reason: str) -> ShadowRecord:
    """Return the endpoint to the config it served before the shadow started."""
    current = _live(clients, cfg)
    started = [r for r in shadow_history(clients, cfg) if r.event == "shadow-start"
               and r.endpoint_config_name == current["EndpointConfigName"]]
    if not started:
        raise DeployError(f"shadow-stop: endpoint {cfg.endpoint.name!r} serves {current['EndpointConfigName']!r}, "
                          "which no recorded shadow start made; nothing was changed")
    start = started[-1]
    _update_all_at_once(clients, cfg, start.previous_endpoint_config_name)
    return _record(clients, cfg, ShadowRecord("shadow-stop", cfg.endpoint.name, start.shadow_run_id, start.live_run_id,
                                              start.previous_endpoint_config_name, start.endpoint_config_name,
                                              reason, who(), _now()))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ---- The comparison, from capture ------------------------------------------------------------------------

def read_capture(clients: AwsClients, uri: str) -> list[dict[str, Any]]:
    """Every capture record (JSON lines) under an s3:// prefix."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    records = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            body = clients.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            records += [json.loads(line) for line in body.splitlines() if line.strip()]
    return records


def compare(live: list[dict[str, Any]], shadow: list[dict[str, Any]], *, shadow_run_id: str,
            live_run_id: str | None = None) -> dict[str, Any]:
    """Agreement, score shift and alert-rate change on the transactions both models scored."""
    def scored(records: list[dict[str, Any]], version: str | None) -> dict[Any, dict[str, Any]]:
        return {r["transaction_id"]: r for r in records if r.get("status") == "ok" and r.get("transaction_id") is not None
                and (version is None or r.get("model_version") == version)}

    shadow_by_id = scored(shadow, shadow_run_id)
    live_by_id = scored(live, live_run_id)
    joined = sorted(set(shadow_by_id) & set(live_by_id), key=str)
    report: dict[str, Any] = {"shadow_run_id": shadow_run_id, "live_run_id": live_run_id,
                              "live_records": len(live_by_id), "shadow_records": len(shadow_by_id),
                              "joined": len(joined)}
    if not joined:
        return {**report, "agreement": None, "score_shift_mean": None, "score_shift_abs_p95": None,
                "live_alert_rate": None, "shadow_alert_rate": None, "alert_rate_change": None, "disagreements": {}}
    ls = np.array([live_by_id[t]["score"] for t in joined], dtype=float)
    ss = np.array([shadow_by_id[t]["score"] for t in joined], dtype=float)
    ld = [live_by_id[t]["decision"] for t in joined]
    sd = [shadow_by_id[t]["decision"] for t in joined]
    live_alerts = float(np.mean([d in ALERTS for d in ld]))
    shadow_alerts = float(np.mean([d in ALERTS for d in sd]))
    flips: dict[str, int] = {}
    for a, b in zip(ld, sd):
        if a != b:
            flips[f"{a}->{b}"] = flips.get(f"{a}->{b}", 0) + 1
    return {**report, "agreement": float(np.mean([a == b for a, b in zip(ld, sd)])),
            "score_shift_mean": float(np.mean(ss - ls)), "score_shift_abs_p95": float(np.quantile(np.abs(ss - ls), 0.95)),
            "live_alert_rate": live_alerts, "shadow_alert_rate": shadow_alerts,
            "alert_rate_change": shadow_alerts - live_alerts, "disagreements": dict(sorted(flips.items()))}


def shadow_report(clients: AwsClients, cfg: DeployConfig) -> dict[str, Any]:
    """The latest shadow's comparison, from the live and shadow capture in S3."""
    starts = [r for r in shadow_history(clients, cfg) if r.event == "shadow-start"]
    if not starts:
        raise DeployError(f"shadow-report: no shadow was started on endpoint {cfg.endpoint.name!r}")
    start = starts[-1]

    def since_start(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if str(r.get("time", "")) >= start.at[:23]]
    report = compare(since_start(read_capture(clients, cfg.storage.service_capture_uri)),
                     since_start(read_capture(clients, shadow_capture_uri(cfg))),
                     shadow_run_id=start.shadow_run_id, live_run_id=start.live_run_id)
    return {**report, "started_at": start.at, "endpoint_config_name": start.endpoint_config_name}


def shadow_card(report: dict[str, Any]) -> list[Any]:
    """Card components for the comparison (ShadowFlow draws them)."""
    from metaflow.cards import Markdown, Table

    def fmt(v: Any) -> str:
        return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    parts: list[Any] = [Markdown(f"# Shadow test: run `{report['shadow_run_id']}` beside live run "
                                 f"`{report['live_run_id']}`\n\nThe shadow scored a copy of live traffic; its answers "
                                 "reached no one. Figures are on the transactions both scored (joined by transaction id).")]
    keys = ["joined", "live_records", "shadow_records", "agreement", "score_shift_mean", "score_shift_abs_p95",
            "live_alert_rate", "shadow_alert_rate", "alert_rate_change"]
    parts.append(Table([[k, fmt(report.get(k))] for k in keys], headers=["", "value"]))
    if report.get("disagreements"):
        parts.append(Markdown("## Decisions that would change (live -> shadow)"))
        parts.append(Table([[k, str(v)] for k, v in report["disagreements"].items()], headers=["change", "transactions"]))
    return parts
