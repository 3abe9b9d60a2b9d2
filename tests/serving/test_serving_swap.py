"""Version swap and rollback under continuous load lose no request; --pin and SIGHUP behave."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time

import httpx
import pytest
from serving_support import RUN_A, RUN_B, start_server, to_records

from fraudcore.schema import paylink_schema
from fraudcore.serving.app import Service
from fraudcore.serving.config import ServeConfig
from fraudcore.registry.store import ModelSpecError, resolve_bundle_dir

SCHEMA = paylink_schema()


class Load(threading.Thread):
    """Sends requests back to back until stopped; records status and model version of each."""

    def __init__(self, url: str, records: list[dict]) -> None:
        super().__init__(daemon=True)
        self.url, self.records = url, records
        self.results: list[tuple[int, str | None]] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            i = 0
            while not self._halt.is_set():
                rec = self.records[i % len(self.records)]
                i += 1
                try:
                    r = c.post("/invocations", content=json.dumps(rec), headers={"content-type": "application/json"})
                    self.results.append((r.status_code, r.json().get("model_version")))
                except httpx.HTTPError as err:
                    self.errors.append(repr(err))

    def versions_after(self, start: int) -> set[str | None]:
        return {v for _, v in self.results[start:]}

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def _wait_for(load: Load, version: str, timeout: float = 30) -> None:
    start = len(load.results)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if version in load.versions_after(start):
            return
        time.sleep(0.05)
    raise AssertionError(f"no response from model {version} within {timeout}s")


TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def swap_server(bundle_a, tmp_path_factory):
    srv = start_server(["--model", str(bundle_a), "--admin-token", TOKEN],
                       tmp_path_factory.mktemp("swap") / "swap.log")
    yield srv
    srv.stop()


def test_admin_calls_need_the_token(swap_server, bundle_b):
    assert httpx.post(swap_server.url + "/admin/model", json={"model": str(bundle_b)}).status_code == 403
    assert httpx.post(swap_server.url + "/admin/rollback", headers={"authorization": "Bearer nope"}).status_code == 403
    assert httpx.get(swap_server.url + "/admin/model", headers=AUTH).json()["model_version"] == RUN_A


def test_swap_and_rollback_under_load_lose_nothing(swap_server, bundle_b, holdout):
    load = Load(swap_server.url, to_records(holdout.head(300), SCHEMA))
    load.start()
    try:
        time.sleep(0.5)
        with swap_server.client(headers=AUTH) as admin:
            r = admin.post("/admin/model", json={"model": str(bundle_b)})
            assert r.status_code == 200, r.text
            assert r.json() == {"from": RUN_A, "to": RUN_B, "spec": str(bundle_b)}
            _wait_for(load, RUN_B)
            time.sleep(0.3)
            r = admin.post("/admin/rollback")
            assert r.status_code == 200 and r.json()["to"] == RUN_A
            _wait_for(load, RUN_A)
            time.sleep(0.3)
            assert admin.post("/admin/model", json={"model": "/no/such/bundle"}).status_code == 400
            assert admin.get("/admin/model").json()["model_version"] == RUN_A
    finally:
        load.stop()
    assert not load.errors
    statuses = [s for s, _ in load.results]
    assert len(statuses) > 50 and set(statuses) == {200}
    versions = [v for _, v in load.results]
    # A -> B -> A, in that order, every response from one of the two models
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes == [RUN_A, RUN_B, RUN_A]


def test_sighup_re_resolves_the_spec(swap_server):
    before = httpx.get(swap_server.url + "/metrics").text
    swaps = int(re.search(r"^fraud_model_swaps_total (\d+)$", before, re.M).group(1))
    swap_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = httpx.get(swap_server.url + "/metrics").text
        if f"fraud_model_swaps_total {swaps + 1}" in text:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("SIGHUP did not reload the model")
    assert swap_server.proc.poll() is None


def test_pinned_service_ignores_reload(bundle_a):
    service = Service(ServeConfig(model=str(bundle_a), pin=True))
    try:
        asyncio.run(service.reload())
        assert service.metrics.swaps == 0 and service.holder.scorer.version == RUN_A
        assert service.holder.describe()["pinned"] is True
    finally:
        service.close()


def test_unresolvable_spec_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path))
    with pytest.raises(ModelSpecError, match="could not be resolved"):
        resolve_bundle_dir("999999")
    with pytest.raises(ModelSpecError, match="not a directory"):
        resolve_bundle_dir(str(tmp_path / "missing" / "bundle"))
