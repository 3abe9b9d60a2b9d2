"""A local AWS for tests: moto's server on a free loopback port, plus one stand-in moto lacks and one fix.

Everything in `deploy/` talks to AWS through boto3, so pointing `AWS_ENDPOINT_URL` at this server
exercises the same code (real HTTP, real request signing, botocore's parameter validation) that runs
against AWS. The emulator is generic: any test that needs S3, CloudWatch, SageMaker, Application Auto
Scaling, Batch, Step Functions or EventBridge can start one.

The one extension: moto 5.2 answers SageMaker `UpdateEndpoint` with HTTP 500 (NotImplementedError).
`_UpdateEndpointExtension` is WSGI middleware in front of moto that handles only that action, on moto's
own SageMaker and CloudWatch state, and stands in for SageMaker's blue/green deployment like this:

- the endpoint and the new endpoint config must exist, and the endpoint must be `InService`;
- every alarm named in `DeploymentConfig.AutoRollbackConfiguration` must exist in CloudWatch;
- a canary/linear blue/green policy needs the same variant names in the old and new configs;
- if any of those alarms is in state `ALARM`, the update "rolls back": the endpoint keeps its old
  config and gets a `FailureReason` (SageMaker does the same after its bake time);
- otherwise the endpoint switches to the new config at once (no `Updating` phase: there is no fleet);
- `RetainAllVariantProperties` keeps the current instance counts unless `DesiredInstanceCount` is
  excluded;
- the `DeploymentConfig` is kept as `LastDeploymentConfig` in DescribeEndpoint (a real response field)
  and every call is appended to `Emulator.update_endpoint_calls`, so tests can check what was sent.

The fix: moto 5.2 does honour S3 conditional writes (`If-None-Match: *` / `If-Match` on PutObject answer
412 PreconditionFailed), but it checks the condition and then writes, unlocked, on a threaded server:
two racing writers of one key could both pass the check. S3 decides such a race atomically (one write
wins, the other gets 412 or 409). `_AtomicConditionalWrites` gives the emulator the same guarantee by
serialising conditional PUTs, so tests of concurrent writers (the registry log) test our code, not
moto's race.

The log: `_RequestLog` records every request (the SigV4 access key id and signing service, method, host,
path, query, the JSON/query-protocol body) in `Emulator.requests`, for the session, across `reset()`. moto
accepts every call whatever IAM says; tests/aws/iam_audit.py turns this log into IAM actions and resources and
evaluates them against the policies in deploy/iam, each code path signing with its own access key id.

Alarms start as AWS starts them: `_InsufficientDataAlarms` puts every new alarm (PutMetricAlarm of a name
that does not exist yet) in `INSUFFICIENT_DATA`; moto starts them `OK`. moto's alarms never evaluate metrics,
so a state forced with SetAlarmState stays until something resets it (`Emulator.force_alarm` does, on exit).
Part B of issue 17 adds two more stand-ins, described where they are defined: SageMaker's model package
state-change events on EventBridge (`_ModelRegistryEvents`, which also keeps a package's
CustomerMetadataProperties across an UpdateModelPackage that does not repeat them, as AWS does), and
endpoint configs' ShadowProductionVariants (`_ShadowVariants`).

Nothing else is changed: all other requests go to moto untouched.
"""
from __future__ import annotations

import io
import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from werkzeug.serving import BaseWSGIServer, make_server

UPDATE_ENDPOINT_TARGET = "SageMaker.UpdateEndpoint"
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/")
_CREDENTIAL_SCOPE_SERVICE = re.compile(r"Credential=([^/,\s]+)/\d{8}/[a-z0-9-]+/([a-z0-9.-]+)/")


@dataclass(frozen=True)
class UpdateEndpointCall:
    """One UpdateEndpoint request as the emulator received it, and what it did with it."""

    endpoint_name: str
    endpoint_config_name: str
    previous_endpoint_config_name: str | None
    deployment_config: dict[str, Any] | None
    retain_all_variant_properties: bool
    exclude_retained_variant_properties: tuple[str, ...]
    outcome: str  # "updated", "rolled-back" or "rejected"
    message: str
    received_at: datetime


class _UpdateEndpointExtension:
    """WSGI middleware: serves SageMaker UpdateEndpoint, passes every other request to moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]], calls: list[UpdateEndpointCall]) -> None:
        self.app = app
        self.calls = calls
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") != UPDATE_ENDPOINT_TARGET:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        account, region = _account_and_region(environ)
        with self.lock:
            status, body = self._update(request, account, region)
        payload = json.dumps(body).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Bad Request'}",
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _update(self, request: dict[str, Any], account: str, region: str) -> tuple[int, dict[str, Any]]:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.core.utils import utcnow
        from moto.sagemaker.models import sagemaker_backends

        sm = sagemaker_backends[account][region]
        name = request.get("EndpointName", "")
        config_name = request.get("EndpointConfigName", "")
        deployment = request.get("DeploymentConfig")
        retain = bool(request.get("RetainAllVariantProperties", False))
        excluded = tuple(p["VariantPropertyType"] for p in request.get("ExcludeRetainedVariantProperties") or [])

        def record(outcome: str, message: str, previous: str | None) -> None:
            self.calls.append(UpdateEndpointCall(
                name, config_name, previous, deployment, retain, excluded, outcome, message,
                datetime.now(timezone.utc)))

        def reject(message: str, previous: str | None = None) -> tuple[int, dict[str, Any]]:
            record("rejected", message, previous)
            return 400, {"__type": "ValidationException", "message": message}

        endpoint = sm.endpoints.get(name)
        if endpoint is None:
            return reject(f"Could not find endpoint '{name}'.")
        previous = endpoint.endpoint_config_name
        if endpoint.endpoint_status != "InService":
            return reject(f"Cannot update in-progress endpoint '{name}' (status {endpoint.endpoint_status}).",
                          previous)
        new_config = sm.endpoint_configs.get(config_name)
        if new_config is None:
            return reject(f"Could not find endpoint configuration '{config_name}'.", previous)
        new_variants = new_config.production_variants
        alarm_names = [a["AlarmName"] for a in
                       ((deployment or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        alarms = cloudwatch_backends[account][region].alarms
        missing = [a for a in alarm_names if a not in alarms]
        if missing:
            return reject(f"AutoRollbackConfiguration names alarms that do not exist: {missing}.", previous)
        routing = (((deployment or {}).get("BlueGreenUpdatePolicy") or {})
                   .get("TrafficRoutingConfiguration") or {}).get("Type")
        old_names = sorted(v["VariantName"] for v in endpoint.production_variants)
        new_names = sorted(v["VariantName"] for v in new_variants)
        if routing in ("CANARY", "LINEAR") and old_names != new_names:
            return reject(f"A {routing} blue/green update needs the same variant names; "
                          f"endpoint has {old_names}, config has {new_names}.", previous)

        endpoint.last_deployment_config = deployment
        endpoint.last_modified_time = utcnow()
        firing = [a for a in alarm_names if alarms[a].state_value == "ALARM"]
        if firing:
            endpoint.failure_reason = (f"Update rolled back: alarm(s) {firing} went into ALARM "
                                       f"while baking endpoint config '{config_name}'.")
            record("rolled-back", endpoint.failure_reason, previous)
            return 200, {"EndpointArn": endpoint.arn}

        current_counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.production_variants}
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(new_variants)
        if retain and "DesiredInstanceCount" not in excluded:
            for variant in endpoint.production_variants:
                count = current_counts.get(variant["VariantName"])
                if count:
                    variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = count
        if not retain or "DataCaptureConfig" in excluded:
            endpoint.data_capture_config = new_config.data_capture_config
        endpoint.failure_reason = None
        record("updated", f"endpoint '{name}' now serves '{config_name}'", previous)
        return 200, {"EndpointArn": endpoint.arn}


@dataclass(frozen=True)
class LoggedRequest:
    """One request as it reached the emulator: who signed it, for which service, and what it asked."""

    access_key: str
    service: str  # the SigV4 signing name: s3, sagemaker, monitoring, application-autoscaling, ...
    method: str
    host: str
    path: str
    query: str
    target: str  # X-Amz-Target (JSON protocols), "" otherwise
    body: bytes  # JSON/query-protocol bodies; b"" for S3 object bodies (never needed, may be large)
    status: int
    copy_source: str = ""  # S3 x-amz-copy-source: a copy also reads its source


class _RequestLog:
    """WSGI middleware: appends a `LoggedRequest` for every request, then passes it on unchanged."""

    def __init__(self, app: Callable[..., Iterable[bytes]], log: list[LoggedRequest]) -> None:
        self.app, self.log = app, log

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _CREDENTIAL_SCOPE_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match is None:  # moto-api calls from the test harness: not an AWS request
            return self.app(environ, start_response)
        access_key, service = match.group(1), match.group(2)
        body = b""
        if service != "s3" or "delete" in environ.get("QUERY_STRING", ""):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        status: list[int] = []

        def record_status(code: str, headers: Any, *exc: Any) -> Any:
            status.append(int(code.split()[0]))
            return start_response(code, headers, *exc)

        result = self.app(environ, record_status)
        self.log.append(LoggedRequest(access_key, service, environ.get("REQUEST_METHOD", ""),
                                      environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", ""),
                                      environ.get("QUERY_STRING", ""), environ.get("HTTP_X_AMZ_TARGET", ""),
                                      body, status[0] if status else 0, environ.get("HTTP_X_AMZ_COPY_SOURCE", "")))
        return result


class _InsufficientDataAlarms:
    """WSGI middleware: a newly created alarm starts in INSUFFICIENT_DATA, as on AWS (moto starts it OK)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _CREDENTIAL_SCOPE_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match is None or match.group(2) != "monitoring":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        name = _put_alarm_name(environ, body)
        if name is None:
            return self.app(environ, start_response)
        from moto.cloudwatch.models import cloudwatch_backends

        account, region = _account_and_region(environ)
        alarms = cloudwatch_backends[account][region].alarms
        new = name not in alarms
        result = list(self.app(environ, start_response))
        if new and name in alarms:
            alarm = alarms[name]
            alarm.update_state("Unchecked: Initial alarm creation", "{}", "INSUFFICIENT_DATA")
        return result


def _put_alarm_name(environ: dict[str, Any], body: bytes) -> str | None:
    """The alarm name of a PutMetricAlarm request in any of CloudWatch's protocols; None for other actions."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    path = environ.get("PATH_INFO", "")
    if target.endswith(".PutMetricAlarm"):
        return json.loads(body or b"{}").get("AlarmName")
    if path.endswith("/operation/PutMetricAlarm"):  # smithy rpc-v2-cbor
        from moto.core.cbor import loads

        return loads(body).get("AlarmName")
    from urllib.parse import parse_qs

    form = parse_qs(body.decode("utf-8", "replace"))
    if form.get("Action") == ["PutMetricAlarm"]:
        return form.get("AlarmName", [None])[0]
    return None


class _AtomicConditionalWrites:
    """WSGI middleware: one conditional S3 PUT at a time (see the module doc); other requests pass through."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        conditional = environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MATCH")
        if environ.get("REQUEST_METHOD") != "PUT" or not conditional:
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


# ---- Model registry events and shadow variants (issue 17, part B) ---------------------------------------
#
# Two more stand-ins, written like `_UpdateEndpointExtension` and documented in the module docstring:
# - `_ModelRegistryEvents`: SageMaker emits "SageMaker Model Package State Change" to EventBridge when a
#   model package is created or its approval status changes; moto 5.2 emits nothing. This puts that event
#   on moto's default bus (so rules and their targets see it), with the package's description as the
#   detail, as SageMaker does. It also fixes one moto bug on the way in: moto's UpdateModelPackage drops
#   CustomerMetadataProperties when the request does not repeat them (an approval in the console does not);
#   AWS keeps them. And it serves DeleteModelPackage and DeleteModelPackageGroup, which moto 5.2 lacks
#   (the drill's cleanup calls them); a group that still holds packages is refused.
# - `_ShadowVariants`: moto 5.2 accepts CreateEndpointConfig's ShadowProductionVariants and forgets them.
#   This keeps them per config and adds them to DescribeEndpointConfig and DescribeEndpoint answers (the
#   endpoint's come from the config it serves). It checks what SageMaker checks: at most one shadow
#   variant, its model exists, its name differs from every production variant's. There is no traffic to
#   mirror: a test plays the shadow container by writing its capture records.

def _call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], body: bytes) -> tuple[str, list, bytes]:
    """Run `app` on `environ` with `body`; return its status line, headers and whole body."""
    import io

    environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
        seen["status"], seen["headers"] = status, headers
        return lambda _: None

    out = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], out


def _reply(start_response: Callable[..., Any], status: str, headers: list, body: bytes) -> list[bytes]:
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


def _read(environ: dict[str, Any]) -> bytes:
    return environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))


class _ModelRegistryEvents:
    """WSGI middleware: SageMaker's model package state-change events (see the note above)."""

    TARGETS = ("SageMaker.CreateModelPackage", "SageMaker.UpdateModelPackage")
    DELETES = ("SageMaker.DeleteModelPackage", "SageMaker.DeleteModelPackageGroup")  # moto 5.2 lacks both

    def __init__(self, app: Callable[..., Iterable[bytes]], events: list[dict[str, Any]]) -> None:
        self.app, self.events = app, events

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target not in self.TARGETS + self.DELETES:
            return self.app(environ, start_response)
        from moto.sagemaker.models import sagemaker_backends

        account, region = _account_and_region(environ)
        sm = sagemaker_backends[account][region]
        request = json.loads(_read(environ) or b"{}")
        if target in self.DELETES:
            status, body = self._delete(sm, target, request)
            return _reply(start_response, status, [("Content-Type", "application/x-amz-json-1.1")],
                          json.dumps(body).encode())
        if target.endswith("UpdateModelPackage") and "CustomerMetadataProperties" not in request:
            name = sm.model_package_name_mapping.get(request.get("ModelPackageArn"), request.get("ModelPackageArn"))
            package = sm.model_packages.get(name)
            if package is not None and package.customer_metadata_properties:
                request["CustomerMetadataProperties"] = dict(package.customer_metadata_properties)
        status, headers, body = _call(self.app, environ, json.dumps(request).encode())
        if status.startswith("200"):
            arn = json.loads(body)["ModelPackageArn"]
            self._emit(account, region, sm.describe_model_package(arn).gen_response_object())
        return _reply(start_response, status, headers, body)

    @staticmethod
    def _delete(sm: Any, target: str, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """DeleteModelPackage (by name or ARN) and DeleteModelPackageGroup (only when it holds no package)."""
        if target.endswith("DeleteModelPackage"):
            given = request.get("ModelPackageName", "")
            name = sm.model_package_name_mapping.get(given, given)
            if sm.model_packages.pop(name, None) is None:
                return "400 Bad Request", {"__type": "ValidationException", "message": f"Model package {given} not found"}
            for arn in [a for a, n in sm.model_package_name_mapping.items() if n == name]:
                del sm.model_package_name_mapping[arn]
            return "200 OK", {}
        group = request.get("ModelPackageGroupName", "")
        if group not in sm.model_package_groups:
            return "400 Bad Request", {"__type": "ValidationException", "message": f"Model package group {group} not found"}
        if any(p.model_package_group_name == group for p in sm.model_packages.values()):
            return "400 Bad Request", {"__type": "ConflictException",
                                       "message": f"Model package group {group} still holds model packages"}
        del sm.model_package_groups[group]
        return "200 OK", {}

    def _emit(self, account: str, region: str, detail: dict[str, Any]) -> None:
        from moto.events.models import events_backends

        detail = json.loads(json.dumps(detail, default=str))
        event = {"Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
                 "Detail": json.dumps(detail), "Resources": [detail["ModelPackageArn"]], "EventBusName": "default"}
        events_backends[account][region].put_events([event])
        self.events.append({"source": event["Source"], "detail-type": event["DetailType"], "account": account,
                            "region": region, "resources": event["Resources"], "detail": detail})


class _ShadowVariants:
    """WSGI middleware: keeps CreateEndpointConfig's ShadowProductionVariants (see the note above)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], shadows: dict[str, list[dict[str, Any]]]) -> None:
        self.app, self.shadows = app, shadows

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = (environ.get("HTTP_X_AMZ_TARGET") or "").removeprefix("SageMaker.")
        if target not in ("CreateEndpointConfig", "DescribeEndpointConfig", "DescribeEndpoint",
                          "DeleteEndpointConfig"):
            return self.app(environ, start_response)
        raw = _read(environ)
        request = json.loads(raw or b"{}")
        if target == "CreateEndpointConfig" and request.get("ShadowProductionVariants"):
            problem = self._check(environ, request)
            if problem:
                body = json.dumps({"__type": "ValidationException", "message": problem}).encode()
                return _reply(start_response, "400 Bad Request",
                              [("Content-Type", "application/x-amz-json-1.1")], body)
        status, headers, body = _call(self.app, environ, raw)
        if not status.startswith("200"):
            return _reply(start_response, status, headers, body)
        if target == "CreateEndpointConfig" and request.get("ShadowProductionVariants"):
            self.shadows[request["EndpointConfigName"]] = request["ShadowProductionVariants"]
        elif target == "DeleteEndpointConfig":
            self.shadows.pop(request.get("EndpointConfigName", ""), None)
        elif target in ("DescribeEndpointConfig", "DescribeEndpoint"):
            answer = json.loads(body)
            shadow = self.shadows.get(answer.get("EndpointConfigName", ""))
            if shadow:
                answer["ShadowProductionVariants"] = [
                    {**v, "CurrentInstanceCount": v.get("InitialInstanceCount", 1),
                     "DesiredInstanceCount": v.get("InitialInstanceCount", 1)} if target == "DescribeEndpoint"
                    else v for v in shadow]
                body = json.dumps(answer).encode()
        return _reply(start_response, status, headers, body)

    @staticmethod
    def _check(environ: dict[str, Any], request: dict[str, Any]) -> str:
        from moto.sagemaker.models import sagemaker_backends

        account, region = _account_and_region(environ)
        models = sagemaker_backends[account][region]._models
        shadows, production = request["ShadowProductionVariants"], request.get("ProductionVariants") or []
        if len(shadows) > 1:
            return "ShadowProductionVariants: at most one shadow variant is supported."
        names = {v["VariantName"] for v in production}
        for v in shadows:
            if v["VariantName"] in names:
                return f"Variant name '{v['VariantName']}' is used by a production variant and a shadow variant."
            if v["ModelName"] not in models:
                return f"Could not find model '{v['ModelName']}'."
        return ""


def _account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    """The account and region moto would pick for this request (from the SigV4 credential scope)."""
    import os

    from moto.iam.models import get_account_id_from

    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (match.group(1), match.group(2)) if match else ("AKIAEXAMPLE", "us-east-1")
    account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(access_key)
    return account, region


@dataclass
class Emulator:
    """A running emulator: `url` for boto3's endpoint_url, `stop()` when done (or use `with`)."""

    url: str
    update_endpoint_calls: list[UpdateEndpointCall]
    requests: list[LoggedRequest]  # every AWS request of the session; reset() keeps it
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    # What the extensions of part B keep (see `_ModelRegistryEvents` and `_ShadowVariants`).
    model_package_events: list[dict[str, Any]] = field(default_factory=list)
    shadow_variants: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        """Forget every resource (moto's own reset API) and the recorded UpdateEndpoint calls."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        self.update_endpoint_calls.clear()
        self.model_package_events.clear()
        self.shadow_variants.clear()

    @contextmanager
    def force_alarm(self, cloudwatch: Any, name: str, state: str = "ALARM", reason: str = "drill") -> Iterator[None]:
        """Force an alarm's state for a drill and put back the state it had, whatever the drill did.

        moto's alarms never evaluate: a forced state would otherwise stay for every later test.
        """
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        try:
            yield
        finally:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=alarm["StateValue"],
                                       StateReason=f"drill over: back to {alarm['StateValue']}")

    def queue_invoke_results(self, bodies: list[str], content_type: str = "application/json",
                             variant: str = "AllTraffic", region: str = "us-east-1") -> None:
        """Make `bodies` the next answers of sagemaker-runtime InvokeEndpoint (moto's static-results API).

        moto has no container behind an endpoint; without this it answers every call with b"body".
        Answers left over from an earlier queue are dropped first.
        """
        import urllib.request

        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sagemakerruntime.models import sagemakerruntime_backends

        sagemakerruntime_backends[DEFAULT_ACCOUNT_ID][region].results_queue.clear()

        payload = {"region": region, "results": [
            {"Body": b, "ContentType": content_type, "InvokedProductionVariant": variant} for b in bodies]}
        request = urllib.request.Request(f"{self.url}/moto-api/static/sagemaker/endpoint-results",
                                         data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            if reply.status != 201 and reply.status != 200:
                raise RuntimeError(f"emulator refused the invoke results: HTTP {reply.status}")

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(host: str = "127.0.0.1", port: int = 0, log_requests: bool = False) -> Emulator:
    """Start moto's server (with the UpdateEndpoint extension) in a daemon thread.

    This is what `moto.server.ThreadedMotoServer` does (same app, same request handler), built from
    its public parts because ThreadedMotoServer offers no hook to wrap the app. Port 0 asks the OS for a free port, so parallel test sessions never collide.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    class _Handler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if log_requests:
                super().log_request(code, size)

    calls: list[UpdateEndpointCall] = []
    requests: list[LoggedRequest] = []
    events: list[dict[str, Any]] = []
    shadows: dict[str, list[dict[str, Any]]] = {}
    moto_app = DomainDispatcherApplication(create_backend_app)
    app = _RequestLog(_InsufficientDataAlarms(_AtomicConditionalWrites(_UpdateEndpointExtension(
        _ModelRegistryEvents(_ShadowVariants(moto_app, shadows), events), calls))), requests)
    server = make_server(host, port, app, threaded=True, request_handler=_Handler)
    thread = threading.Thread(target=server.serve_forever, name="aws-emulator", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return Emulator(url=f"http://{bound_host}:{bound_port}", update_endpoint_calls=calls, requests=requests,
                    _server=server, _thread=thread, model_package_events=events, shadow_variants=shadows)
