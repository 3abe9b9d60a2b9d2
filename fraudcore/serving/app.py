"""The ASGI app: SageMaker's /ping and /invocations, plus /metrics and /admin/model.

The handler reads the body, lets `RequestParser` validate it and `Scorer` score it (through the
`MicroBatcher` when batching is on: requests ready in the same loop iteration share one transform,
predict and explain), then hands a capture record to the background writer. Scoring runs inline on
the event loop, reasons included. A worker owns one core, so an explainer thread bought no
parallelism; it only added a hand-off, and flagged requests measured slower with it
(docs/serving.md#where-the-time-goes-in-the-http-path). Every expected failure is a
`RequestError` (4xx, counted by rule, captured); anything else is a bug, answered 500 and logged,
and the worker keeps serving.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import ipaddress
import logging
import os
import secrets
import signal
import sys
import time
from urllib.parse import parse_qsl
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fraudcore.online.store import LazyStore
from fraudcore.serving.batching import MicroBatcher, Submission, score_submissions
from fraudcore.serving.checkout import FORMS, CheckoutResult
from fraudcore.serving.capture import CaptureWriter, make_sink, utc_now_iso, worker_name
from fraudcore.serving.config import ServeConfig
from fraudcore.serving.holder import ModelHolder, ModelSpecError
from fraudcore.serving.metrics import EmfEmitter, Metrics
from fraudcore.serving.parsing import INSTANCES, RequestError
from fraudcore.serving.scoring import ScorerOptions

log = logging.getLogger("fraudcore.serving")
JSON = "application/json"
_INPUT_MAX_BYTES = 65_536  # a failure's raw body is captured up to this size

SWITCH_INTERVAL_S = 0.0005


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON, headers=headers)


class _Invocation:
    """The raw ASGI view of one POST /invocations: headers, query, body, and one JSON answer.

    /invocations is the hot path, so it skips Starlette's request, response and routing objects, a
    visible share of a worker's CPU under load (docs/serving.md#where-the-time-goes-in-the-http-path);
    every other route is Starlette's."""

    __slots__ = ("scope", "receive", "send", "headers", "_query")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        self._query: dict[str, str] | None = None
        self.headers: dict[str, str] = {}
        for k, v in scope["headers"]:  # the first of repeated headers wins, as in Starlette's Headers.get
            self.headers.setdefault(k.decode("latin-1"), v.decode("latin-1"))

    def request_id(self, new_id: Callable[[], str]) -> str:
        rid = self.headers.get("x-request-id")
        return rid[:128] if rid else new_id()

    def option(self, name: str) -> str:
        """A request option from the query (`?name=v`, the last wins, as in Starlette's query_params.get),
        else the header `x-name`, else SageMaker's `X-Amzn-SageMaker-Custom-Attributes: name=v;...` (the
        one channel InvokeEndpoint passes through)."""
        if self._query is None:    # parsed once a request: the form, features and explain options read it
            query = self.scope.get("query_string", b"")
            self._query = dict(parse_qsl(query.decode("latin-1"))) if query else {}
        chosen = self._query.get(name, "")
        if not chosen:
            chosen = self.headers.get("x-" + name, "")
        if not chosen:
            attrs = self.headers.get("x-amzn-sagemaker-custom-attributes", "")
            if attrs:
                for part in attrs.replace(",", ";").split(";"):
                    key, _, value = part.strip().partition("=")
                    if key == name:
                        chosen = value.strip()
        return chosen.lower()

    def explain_all(self) -> bool:
        return self.option("explain") == "all"

    async def body(self, limit: int) -> bytes:
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, "body_size", f"request body may be at most {limit} bytes; got {declared}",
                               received=int(declared))
        chunks, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, "body_size", f"request body may be at most {limit} bytes; got more",
                                   received=size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def answer(self, obj: Any, status: int, rid: str, version: str) -> None:
        body = orjson.dumps(obj)
        await self.send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", rid.encode("latin-1", "replace")), (b"x-model-version", version.encode())]})
        await self.send({"type": "http.response.body", "body": body})


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Service:
    """State shared by the routes of one worker: model holder, metrics, capture, settings."""

    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        options = ScorerOptions(cfg.reasons_k, compiled_walk=cfg.compiled_walk, compiled_reasons=cfg.compiled_reasons)
        self.online = None if cfg.online_store == "none" else LazyStore(cfg.online_store, cfg.online_budget_ms / 1e3)
        self.holder = ModelHolder(cfg.model, options, max_batch=cfg.max_batch, pinned=cfg.pin, online=self.online)
        self.metrics = Metrics()
        self.metrics.model_version = self.holder.scorer.version
        self.worker = worker_name()
        self.capture = None
        if cfg.capture:
            self.capture = CaptureWriter(make_sink(cfg.capture, self.worker), cfg.capture_sample,
                                         on_error=lambda err: log.error("capture write failed: %s", err))
        self.emf = None
        if cfg.emf:
            dims = {"EndpointName": os.environ.get("PAYLINK_ENDPOINT_NAME", "local"),
                    "VariantName": os.environ.get("PAYLINK_VARIANT_NAME", "local")}
            self.emf = EmfEmitter(self.metrics, dims, cfg.emf_interval_s)
        self._swap_lock = asyncio.Lock()
        # Generated request ids: a random per-worker prefix and a counter, 24 hex digits, unique
        # without a getrandom() system call per request.
        self._rid_prefix = secrets.token_hex(6)
        self._rid_seq = itertools.count(1)
        self.batcher = MicroBatcher(cfg.max_batch, self.metrics.observe_batch) if cfg.batching else None

    def new_request_id(self) -> str:
        return f"{self._rid_prefix}{next(self._rid_seq) & 0xFFFFFFFFFFFF:012x}"

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()
        if self.emf is not None:
            self.emf.close()

    # ---- /invocations ----------------------------------------------------------------------
    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        call = _Invocation(scope, receive, send)
        rid = call.request_id(self.new_request_id)
        loaded = self.holder.current  # this request finishes on this model, whatever swaps meanwhile
        scorer, parser = loaded.scorer, loaded.parser
        body = b""
        records: list[dict[str, Any]] | None = None
        checkout: CheckoutResult | None = None
        requests: list[Any] = []
        try:
            ctype = call.headers.get("content-type", "")
            if ctype.split(";", 1)[0].strip().lower() != JSON:
                raise RequestError(415, "content_type", f"content type must be {JSON}; got {ctype or 'none'!r}",
                                   field="content-type", received=ctype or None)
            body = await call.body(self.cfg.max_body_bytes)
            form = call.option("form") or "features"
            if form == "checkout":
                requests, batch = parser.items(body)
                checkout = await self._checkout(loaded, requests, batch)
                records = [e.record for e in checkout.enriched]
                for i, (rec, e) in enumerate(zip(records, checkout.enriched)):
                    parser.check(rec, i if batch else None, e.missing)
            elif form == "features":
                records, batch = parser.parse(body)
            else:
                raise RequestError(400, "form", f"request form must be one of {list(FORMS)}; got {form!r}",
                                   field="form", received=form)
            sub = Submission(loaded, records, explain_all=call.explain_all())
            if self.batcher is not None:
                results = await self.batcher.submit(sub)
            else:
                results = score_submissions(loaded, [sub])[0]
        except ClientDisconnect:
            return  # nobody to answer; nothing was scored for this request
        except RequestError as err:
            await call.answer(*self._failure(err, rid, scorer.version, t0, body, records), rid, scorer.version)
            return
        except Exception as err:  # noqa: BLE001 - a bug: answer 500, keep the worker alive
            log.exception("request %s failed unexpectedly", rid)
            bug = RequestError(500, "internal", f"internal error: {type(err).__name__}: {err}")
            await call.answer(*self._failure(bug, rid, scorer.version, t0, body, records), rid, scorer.version)
            return
        id_field = parser.id_field
        for rec, res in zip(records, results):
            if id_field in rec:
                res[id_field] = rec[id_field]
        if checkout is not None:
            show = call.option("features") in ("1", "true", "yes")
            for e, res in zip(checkout.enriched, results):
                if e.missing:
                    res["degraded"] = {"missing": list(e.missing), "reason": checkout.store_error}
                if show:
                    res["features"] = e.record
            self.metrics.observe_online(sum(1 for e in checkout.enriched if e.missing), len(records),
                                        checkout.read_ms, checkout.enrich_ms)
        payload: Any = {"request_id": rid, "model_version": scorer.version, "predictions": results} if batch \
            else {"request_id": rid, **results[0]}
        latency_ms = (time.perf_counter() - t0) * 1e3
        self.metrics.observe(latency_ms, 200, [r["decision"] for r in results], scores=[r["score"] for r in results])
        if self.capture is not None and self.capture.sampled():
            now = utc_now_iso()
            for i, (rec, res) in enumerate(zip(records, results)):
                doc = {"request_id": rid, "transaction_id": rec.get(id_field), "time": now,
                       "model_version": scorer.version, "status": "ok", "input": rec, "score": res["score"],
                       "decision": res["decision"], "reasons": res.get("reasons", []), "latency_ms": latency_ms}
                if checkout is not None:  # `input` is what the model saw; `request` what checkout sent
                    doc["form"], doc["request"] = "checkout", requests[i]
                    if checkout.enriched[i].missing:
                        doc["degraded"] = list(checkout.enriched[i].missing)
                self.capture.offer(doc)
        await call.answer(payload, 200, rid, scorer.version)

    async def _checkout(self, loaded: Any, requests: list[Any], batch: bool) -> CheckoutResult:
        """Check the checkout fields, then compute the features from the online store. A store that
        blocks (networked) is read off the event loop, and never waited for past twice its budget."""
        form = loaded.checkout
        if form is None:
            why = ("the server runs without an online store (--online-store none)" if self.online is None else
                   "this model was trained on precomputed features, so it has no feature declarations")
            raise RequestError(400, "checkout_unavailable", f"the checkout form is not available: {why}; send "
                               "the features form (every schema feature)", field="form", received="checkout")
        for i, rec in enumerate(requests):
            form.check(rec, i if batch else None)
        if self.online is None or self.online.name == "lmdb":
            return form.enrich(requests)
        loop = asyncio.get_running_loop()
        budget = 2 * self.cfg.online_budget_ms / 1e3
        try:
            return await asyncio.wait_for(loop.run_in_executor(None, form.enrich, requests), budget)
        except asyncio.TimeoutError:
            return form.enrich_without_store(requests, f"online store did not answer within {budget * 1e3:.0f} ms")

    def _failure(self, err: RequestError, rid: str, version: str, t0: float, body: bytes,
                 records: list[dict[str, Any]] | None) -> tuple[dict[str, Any], int]:
        """Count and capture a failed request; returns its JSON answer and status."""
        latency_ms = (time.perf_counter() - t0) * 1e3
        self.metrics.observe(latency_ms, err.status, failure=err.rule)
        if self.capture is not None:
            self.capture.offer({
                "request_id": rid, "transaction_id": _transaction_id(body, err, self.holder.current.parser.id_field),
                "time": utc_now_iso(), "model_version": version, "status": "error", "http_status": err.status,
                "input": _failed_input(body, err), "error": err.to_dict(), "latency_ms": latency_ms})
        return {"request_id": rid, "error": err.to_dict()}, err.status

    # ---- other routes ------------------------------------------------------------------------
    async def ping(self, request: Request) -> Response:
        return _json({"status": "ok", "model_version": self.holder.scorer.version})

    async def prometheus(self, request: Request) -> Response:
        extra = {}
        if self.capture is not None:
            extra = {"fraud_capture_written": self.capture.written, "fraud_capture_dropped": self.capture.dropped,
                     "fraud_capture_write_errors": self.capture.write_errors}
        return Response(self.metrics.prometheus(extra), media_type="text/plain; version=0.0.4")

    def _admin_denied(self, request: Request) -> Response | None:
        token = self.cfg.admin_token
        if token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given, token):
                return _json({"error": {"rule": "admin_token", "message": "admin calls need the admin token"}}, 403)
            return None
        if not _is_loopback(request):
            return _json({"error": {"rule": "admin_loopback",
                                    "message": "admin calls are only accepted from loopback (or with a token)"}}, 403)
        return None

    async def admin_model(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        if request.method == "GET":
            return _json(self.holder.describe())
        try:
            doc = orjson.loads(await request.body())
            spec = doc["model"] if isinstance(doc, dict) else None
        except (orjson.JSONDecodeError, KeyError):
            spec = None
        if not isinstance(spec, str) or not spec:
            return _json({"error": {"field": "model", "rule": "required",
                                    "message": 'body must be {"model": "<bundle dir | run id | champion>"}'}}, 400)
        return await self._swap(spec)

    async def admin_rollback(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        async with self._swap_lock:
            try:
                result = self.holder.rollback()
            except ModelSpecError as err:
                return _json({"error": {"rule": "no_previous", "message": str(err)}}, 409)
        self.metrics.swaps += 1
        self.metrics.model_version = self.holder.scorer.version
        log.warning("rolled back model %s -> %s", result["from"], result["to"])
        return _json(result)

    async def _swap(self, spec: str) -> Response:
        async with self._swap_lock:
            try:
                result = await asyncio.get_running_loop().run_in_executor(None, self.holder.swap, spec)
            except Exception as err:  # noqa: BLE001 - a bad spec must not take the server down
                return _json({"error": {"field": "model", "rule": "unloadable", "received": spec,
                                        "message": str(err)}}, 400)
        self.metrics.swaps += 1
        self.metrics.model_version = self.holder.scorer.version
        log.warning("swapped model %s -> %s", result["from"], result["to"])
        return _json(result)

    async def reload(self) -> None:
        """SIGHUP: re-resolve the current spec (e.g. `champion` moved), unless pinned."""
        if self.holder.pinned:
            log.warning("SIGHUP ignored: model pinned to %s", self.holder.scorer.version)
            return
        await self._swap(self.holder.current.spec)


def _failed_input(body: bytes, err: RequestError) -> Any:
    if not body or len(body) > _INPUT_MAX_BYTES:
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
    if err.index is not None:
        items = doc.get(INSTANCES) if isinstance(doc, dict) else doc
        if isinstance(items, list) and err.index < len(items):
            return items[err.index]
    return doc


def _transaction_id(body: bytes, err: RequestError, id_field: str) -> Any:
    rec = _failed_input(body, err)
    return rec.get(id_field) if isinstance(rec, dict) else None


def create_app(cfg: ServeConfig) -> ASGIApp:
    """The app for one worker; the model loads (and warms up) before the first request."""
    state: dict[str, Service] = {}

    def svc() -> Service:
        return state["svc"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service = Service(cfg)
        state["svc"] = service
        # Move the loaded model, numba, pandas and friends out of the collector's reach: a full
        # collection over them stalled the event loop for tens of ms (hundreds under load).
        gc.collect()
        gc.freeze()
        # The event loop shares the GIL with the capture, EMF and store threads. When one of them runs
        # Python (an S3 upload signs and builds its request in Python for milliseconds), the loop
        # waits up to the switch interval for the GIL: 5 ms by default, 0.5 ms here.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(service.reload()))
        log.warning("serving model %s from %s (worker %s; compiled walk %s, compiled reasons %s, one-write "
                    "transport %s)", service.holder.scorer.version, service.holder.scorer.bundle.path,
                    service.worker, *(_on_off(v) for v in (cfg.compiled_walk, cfg.compiled_reasons, cfg.one_write)))
        try:
            yield
        finally:
            service.close()

    async def ping(request: Request) -> Response:
        return await svc().ping(request)

    async def prometheus(request: Request) -> Response:
        return await svc().prometheus(request)

    async def admin_model(request: Request) -> Response:
        return await svc().admin_model(request)

    async def admin_rollback(request: Request) -> Response:
        return await svc().admin_rollback(request)

    routes = [
        Route("/invocations", _method_not_allowed, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route("/ping", ping, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/admin/model", admin_model, methods=["GET", "POST"]),
        Route("/admin/rollback", admin_rollback, methods=["POST"]),
    ]
    starlette = Starlette(routes=routes, lifespan=lifespan)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/invocations":
            await svc().invocations(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    return app


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


async def _method_not_allowed(request: Request) -> Response:
    return _json({"error": {"field": "method", "rule": "method", "received": request.method,
                            "message": f"/invocations takes POST; got {request.method}"}}, 405,
                 headers={"allow": "POST"})


def create_app_from_env() -> ASGIApp:
    """Factory for uvicorn workers: settings come from the environment `fraud serve` prepared."""
    return create_app(ServeConfig.from_env())
