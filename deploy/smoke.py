"""The smoke test: real `sagemaker-runtime invoke_endpoint` calls after a rollout or rollback.

Each answer must follow the scoring contract and equal what the bundle itself scores for the same
request, so a wrong model behind the endpoint fails the smoke test, not only a dead one. The requests
carry `InferenceId = smoke-test-<hex>`: data capture records it, and monitoring can drop them.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from deploy.clients import AwsClients, DeployError
from deploy.config import DeployConfig
from fraudcore.bundle import Bundle

DECISIONS = ("approve", "review", "decline")
SCORE_TOLERANCE = 1e-6  # the endpoint may score through a faster single-row path


@dataclass(frozen=True)
class SmokeResult:
    requests: int
    responses: list[dict[str, Any]] = field(default_factory=list)


def smoke_requests(schema: Any, count: int) -> list[dict[str, Any]]:
    """Schema-valid transactions: mid-range numbers, categories in turn, distinct ids."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    requests = []
    for n in range(count):
        request: dict[str, Any] = {}
        for f in schema.fields:
            if f.role in ("label", "oracle"):
                continue
            if f.role == "id":
                request[f.name] = 9_000_000_000 + n if f.dtype == "int" else f"smoke-{n}"
            elif f.role == "time" or f.dtype == "timestamp":
                request[f.name] = now
            elif f.dtype == "category":
                request[f.name] = f.categories[n % len(f.categories)]
            elif f.dtype == "bool":
                request[f.name] = bool(n % 2)
            else:
                lo, hi = f.min, f.max
                mid = (lo + hi) / 2 if lo is not None and hi is not None else (lo if lo is not None else 1.0)
                request[f.name] = int(mid) if f.dtype == "int" else float(mid)
        requests.append(request)
    return requests


def check_response(body: bytes, expected: tuple[float, str], n: int, run_id: str) -> dict[str, Any]:
    """The scoring contract, and the live model's answer equal to the bundle's own."""
    where = f"smoke test: request {n}"
    try:
        parsed = json.loads(body)
    except ValueError as err:
        raise DeployError(f"{where}: response is not JSON: {body[:200]!r}") from err
    if not isinstance(parsed, dict):
        raise DeployError(f"{where}: response must be a JSON object; got {type(parsed).__name__}")
    score, decision = parsed.get("score"), parsed.get("decision")
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0.0 <= score <= 1.0:
        raise DeployError(f"{where}: response 'score' must be a number in [0, 1]; got {score!r}")
    if decision not in DECISIONS:
        raise DeployError(f"{where}: response 'decision' must be one of {DECISIONS}; got {decision!r}")
    if parsed.get("model_version") != run_id:
        raise DeployError(f"{where}: the endpoint answered for model_version {parsed.get('model_version')!r}; "
                          f"expected run {run_id!r}: the endpoint is not serving this model")
    if abs(score - expected[0]) > SCORE_TOLERANCE or decision != expected[1]:
        raise DeployError(f"{where}: the endpoint answered score {score!r} / {decision!r}, but run {run_id!r} "
                          f"scores {expected[0]!r} / {expected[1]!r}: the endpoint is not serving this model")
    return parsed


def expected_answers(bundle: Bundle, requests: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """(score, decision) the bundle gives each raw request: what the live endpoint must answer."""
    columns = {name: [r.get(name) for r in requests] for name in bundle.pipeline.feature_names_in_}
    scores = bundle.score(columns)
    return [(float(s), str(d)) for s, d in zip(scores, bundle.decide(scores))]


def smoke_test(clients: AwsClients, cfg: DeployConfig, bundle: Bundle, endpoint_name: str | None = None) -> SmokeResult:
    """Real invoke_endpoint calls; each answer must equal what the bundle itself scores.

    `endpoint_name`: another endpoint than the configured one (the preflight endpoint).
    """
    endpoint_name = endpoint_name or cfg.endpoint.name
    requests = smoke_requests(bundle.schema, cfg.rollout.smoke_requests)
    expected = expected_answers(bundle, requests)
    responses = []
    for n, (request, answer) in enumerate(zip(requests, expected)):
        try:
            reply = clients.runtime.invoke_endpoint(
                EndpointName=endpoint_name, Body=json.dumps(request).encode(), ContentType="application/json",
                # Data capture records the InferenceId: monitoring can tell smoke tests from traffic.
                Accept="application/json", InferenceId=f"smoke-test-{uuid.uuid4().hex}")
        except ClientError as err:
            raise DeployError(f"smoke test: invoke_endpoint on {endpoint_name!r} failed: {err}") from err
        responses.append(check_response(reply["Body"].read(), answer, n, bundle.version))
    return SmokeResult(len(responses), responses)
