"""The checkout form over real HTTP: a server process, the embedded store on disk, events ingested with
the CLI in between. Degraded answers when the store is locked past its budget or gone, and recovery."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
from serving_support import start_server

from fraudcore.features import EventLog
from fraudcore.online.bulk import load_history
from fraudcore.online.replay import canonical, checkout_request, read_events
from fraudcore.online.store import LmdbStore

LATENESS = 5 * 60 * 10**9


@pytest.fixture(scope="module")
def setup(online_events, plan, online_bundle, tmp_path_factory):
    months = json.loads((online_events / "manifest.json").read_text())["months"]
    start = pd.Timestamp(months[-2] + "-01").value
    end = start + 2 * 86_400 * 10**9
    folder = tmp_path_factory.mktemp("checkout")
    store_path = folder / "store.lmdb"
    store = LmdbStore(store_path)
    load_history(plan, store, EventLog.from_dir(online_events), start, LATENESS)
    store.close()
    events = read_events(plan, EventLog.from_dir(online_events), start, end)
    capture = folder / "capture"
    srv = start_server(["--model", str(online_bundle), "--online-store", f"lmdb:{store_path}",
                        "--online-budget-ms", "50", "--capture", str(capture), "--capture-sample", "1"],
                       folder / "server.log")
    yield dict(srv=srv, store=store_path, events=events, capture=capture, folder=folder)
    srv.stop()


def _post(srv, body, **params):
    with srv.client() as c:
        return c.post("/invocations", json=body, params=params)


def _ingest(setup, events, plan=None):
    """In process (the Ingestor the CLI runs), or through `fraud features ingest` when no plan is given."""
    if plan is not None:
        from fraudcore.online.ingest import Ingestor
        store = LmdbStore(setup["store"])
        try:
            return Ingestor(plan, store, LATENESS).apply(events).to_dict()
        finally:
            store.close()
    path = setup["folder"] / f"batch-{time.monotonic_ns()}.jsonl"
    path.write_text("".join(json.dumps({"stream": e.stream, "record": e.record}) + "\n" for e in events))
    out = subprocess.run([sys.executable, "-m", "fraudcore.cli", "features", "ingest", "--from", str(path),
                          "--store", f"lmdb:{setup['store']}"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_checkout_requests_get_the_offline_features_and_feed_the_next_ones(setup, plan, offline):
    srv, events = setup["srv"], setup["events"]
    fields = {f.name: f for f in plan.fs.schema.features}
    by_id = offline.set_index("transaction_id")
    target = [i for i, e in enumerate(events) if e.stream == plan.fs.target][:30]
    assert len(target) == 30
    done = 0
    for n, i in enumerate(target):
        if i > done:
            stats = _ingest(setup, events[done:i], None if n == 1 else plan)
            assert stats["applied"] == i - done and stats["rejected"] == 0
        done = i
        ev = events[i]
        r = _post(srv, checkout_request(plan, ev.record), form="checkout", features="1")
        assert r.status_code == 200, r.text
        body = r.json()
        assert "degraded" not in body
        want = by_id.loc[ev.record["transaction_id"]]
        got = body["features"]
        diff = {n: (canonical(f, want[n]), canonical(f, got[n])) for n, f in fields.items()
                if canonical(f, want[n]) != canonical(f, got[n])}
        assert diff == {}
        assert body["transaction_id"] == ev.record["transaction_id"]
    # the same transaction in the features form scores the same
    last = events[target[-1]]
    feats = _post(srv, checkout_request(plan, last.record), form="checkout", features="1").json()
    full = _post(srv, feats["features"]).json()
    assert full["score"] == feats["score"] and full["decision"] == feats["decision"]
    with srv.client() as c:            # each checkout request's store reads and enrichment are timed
        metrics = {line.split()[0]: float(line.split()[-1]) for line in c.get("/metrics").text.splitlines()
                   if line.startswith(("fraud_online_read_ms_", "fraud_online_enrich_ms_"))}
    assert metrics["fraud_online_read_ms_count"] == metrics["fraud_online_enrich_ms_count"] >= 31
    assert 0 < metrics["fraud_online_read_ms_sum"] < metrics["fraud_online_enrich_ms_sum"]


def test_capture_keeps_what_the_model_saw_and_what_checkout_sent(setup, plan):
    time.sleep(1.5)
    docs = [json.loads(line) for p in sorted(setup["capture"].rglob("*.jsonl")) for line in p.read_text().splitlines()]
    checkout = [d for d in docs if d.get("form") == "checkout"]
    assert checkout, "no checkout-form capture records"
    d = checkout[0]
    assert set(plan.fs.schema.feature_names) <= set(d["input"])
    assert set(d["request"]) == set(plan.checkout_fields)


def test_bad_checkout_requests_name_the_field_and_rule(setup, plan):
    srv, events = setup["srv"], setup["events"]
    ev = next(e for e in events if e.stream == plan.fs.target)
    good = checkout_request(plan, ev.record)
    cases = [({**good, plan.time_column: None}, plan.time_column, "required"),
             ({**good, plan.time_column: "yesterday"}, plan.time_column, "timestamp"),
             ({**good, "customer_id": "abc"}, "customer_id", "type"),
             ({k: v for k, v in good.items() if k != "amount"}, "amount", "required"),
             ({**good, "amount": None}, "amount", "not_null"),
             ({**good, "amount": "12"}, "amount", "type")]
    for body, field, rule in cases:
        r = _post(srv, body, form="checkout")
        assert r.status_code == 400, (field, r.text)
        err = r.json()["error"]
        assert (err["field"], err["rule"]) == (field, rule)
    r = _post(srv, good, form="sideways")
    assert r.status_code == 400 and r.json()["error"]["rule"] == "form"
    with srv.client() as c:   # SageMaker passes options only as custom attributes
        r = c.post("/invocations", json=good, headers={"X-Amzn-SageMaker-Custom-Attributes": "form=checkout;features=1"})
    assert r.status_code == 200 and "features" in r.json()


def test_a_new_customer_takes_the_new_customer_path(setup, plan):
    ev = next(e for e in setup["events"] if e.stream == plan.fs.target)
    body = {**checkout_request(plan, ev.record), "customer_id": 10**12, "card_id": 10**12, "device_id": 10**12}
    r = _post(setup["srv"], body, form="checkout", features="1")
    assert r.status_code == 200 and "degraded" not in r.json()
    f = r.json()["features"]
    assert f["transactions_24h"] == 0 and f["days_since_last_txn"] is None and f["chargebacks_90d"] is None
    assert f["is_new_device"] is True


def test_a_store_that_is_down_degrades_and_recovers_when_it_is_back(setup, plan, online_bundle):
    """A second server whose store is not there yet (down), then is (restarted)."""
    later = setup["folder"] / "later.lmdb"
    srv = start_server(["--model", str(online_bundle), "--online-store", f"lmdb:{later}"],
                       setup["folder"] / "server-later.log")
    try:
        ev = next(e for e in setup["events"] if e.stream == plan.fs.target)
        body = checkout_request(plan, ev.record)
        t0 = time.perf_counter()
        r = _post(srv, body, form="checkout")
        assert time.perf_counter() - t0 < 2.0
        assert r.status_code == 200, r.text
        deg = r.json()["degraded"]
        assert "transactions_24h" in deg["missing"] and "amount" not in deg["missing"] and "does not exist" in deg["reason"]
        assert r.json()["decision"] in ("approve", "review", "decline")
        shutil.copy(setup["store"], later)
        time.sleep(1.1)
        r = _post(srv, body, form="checkout")
        assert r.status_code == 200 and "degraded" not in r.json()
        with srv.client() as c:
            metrics = c.get("/metrics").text
        line = next(x for x in metrics.splitlines() if x.startswith("fraud_online_degraded_total"))
        assert float(line.split()[-1]) == 1
    finally:
        srv.stop()
