"""The deploy history: one S3 object per deploy or rollback, read back in order.

Each event is its own object under `<history_prefix>/<endpoint>/`, keyed by a sortable UTC time, so
concurrent writers never overwrite each other (no read-modify-write of a shared log) and the bucket's
versioning and lifecycle rules apply per event. The history answers two questions: which run is live
now, and which run a rollback should return to.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from deploy.config import DeployConfig

from fraudcore.errors import FraudError

EVENTS = ("deploy", "rollback")
SOURCES = ("run", "bundle")
# "live": the run now serves traffic. The others record an attempt that left the previous run live:
# SageMaker rolled the canary back on an alarm, or the smoke test failed and we reverted. "failed": the
# smoke test failed with nothing to revert to (a new endpoint); it serves the run but is not counted live.
OUTCOMES = ("live", "auto-rolled-back", "reverted", "failed")
# "preflight-failed": the new model failed its smoke test on the preflight endpoint; the live endpoint
# was never touched (deploy/preflight.py).
OUTCOMES += ("preflight-failed",)


class HistoryError(FraudError, RuntimeError):
    """The deploy history cannot answer the question asked (for example, nothing to roll back to)."""


@dataclass(frozen=True)
class DeployRecord:
    event: str
    outcome: str
    endpoint_name: str
    run_id: str
    previous_run_id: str | None
    model_name: str
    endpoint_config_name: str
    previous_endpoint_config_name: str | None
    model_data_url: str
    at: str
    by: str
    aws_identity: str
    reason: str
    forced: bool
    detail: str = ""
    source: str = "run"  # "run": a TrainFlow run (its champion tag follows the endpoint); "bundle": a directory
    # The endpoint belonged to someone else (no project tag) and was taken over with --adopt: the config it
    # served then ("" otherwise). Records written before ownership existed read as not adopted.
    adopted_from: str = ""
    environment: str = "production"  # whose champion the endpoint serves (records before environments: production)
    gate: str = ""  # the run's gate when it was deployed ("" in records written before the gate was recorded)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"deploy record 'event' must be one of {EVENTS}; got {self.event!r}")
        if self.source not in SOURCES:
            raise ValueError(f"deploy record 'source' must be one of {SOURCES}; got {self.source!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"deploy record 'outcome' must be one of {OUTCOMES}; got {self.outcome!r}")


def _prefix(cfg: DeployConfig) -> str:
    return f"{cfg.storage.history_prefix}/{cfg.endpoint.name}/"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def append_record(s3: Any, cfg: DeployConfig, record: DeployRecord) -> str:
    """Write one event; return its S3 key."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    key = f"{_prefix(cfg)}{stamp}-{record.event}-{uuid.uuid4().hex[:8]}.json"
    s3.put_object(Bucket=cfg.storage.bucket, Key=key, Body=json.dumps(asdict(record), sort_keys=True).encode(),
                  ContentType="application/json")
    return key


def read_history(s3: Any, cfg: DeployConfig) -> list[DeployRecord]:
    """Every event for the configured endpoint, oldest first."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cfg.storage.bucket, Prefix=_prefix(cfg)):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    records = []
    for key in sorted(keys):
        body = s3.get_object(Bucket=cfg.storage.bucket, Key=key)["Body"].read()
        try:
            records.append(DeployRecord(**json.loads(body)))
        except (TypeError, ValueError) as err:
            raise HistoryError(f"deploy history object s3://{cfg.storage.bucket}/{key} is not a valid "
                               f"record: {err}") from err
    return records


def live_stack(records: list[DeployRecord]) -> list[DeployRecord]:
    """The runs that went live, with each rollback undoing the latest one: the last entry is live now.

    Deploying A, B, C then rolling back twice returns to B, then A (not back and forth between two).
    """
    stack: list[DeployRecord] = []
    for rec in records:
        if rec.outcome != "live":
            continue
        if rec.event == "rollback":
            while stack and stack[-1].run_id != rec.run_id:
                stack.pop()
            if not stack:
                stack.append(rec)
            else:
                stack[-1] = rec
        elif not stack or stack[-1].run_id != rec.run_id:
            stack.append(rec)
        else:
            stack[-1] = rec
    return stack


def rollback_target(records: list[DeployRecord]) -> tuple[DeployRecord, DeployRecord]:
    """(live now, the one to return to); HistoryError if there is no earlier live run."""
    stack = live_stack(records)
    if len(stack) < 2:
        live = stack[-1].run_id if stack else None
        raise HistoryError(f"nothing to roll back to: the deploy history has no earlier live run "
                           f"(live run: {live!r}, {len(records)} event(s) recorded)")
    return stack[-1], stack[-2]
