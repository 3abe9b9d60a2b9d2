"""The HTTP contract, against a real server process: parity with the bundle, reasons, errors, capture."""
from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from serving_support import RUN_A, to_records
from strategies import invalid_record_strategy, record_strategy

from fraudcore.bundle import load_bundle
from fraudcore.schema import paylink_schema

SCHEMA = paylink_schema()


@pytest.fixture(scope="module")
def expected(bundle_a, holdout):
    bundle = load_bundle(bundle_a)
    scores = bundle.score(holdout)
    return bundle, scores, bundle.decide(scores)


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


def _post(client, obj, **kw):
    return client.post("/invocations", content=json.dumps(obj), headers={"content-type": "application/json",
                                                                         **kw.pop("headers", {})}, **kw)


def test_ping_names_the_model(client):
    r = client.get("/ping")
    assert r.status_code == 200 and r.json()["model_version"] == RUN_A


def test_batches_equal_bundle_scores(client, holdout, expected):
    _, scores, decisions = expected
    records = to_records(holdout, SCHEMA)
    got_s, got_d = [], []
    for i in range(0, len(records), 64):
        r = _post(client, {"instances": records[i:i + 64]})
        assert r.status_code == 200, r.text
        preds = r.json()["predictions"]
        assert [p["transaction_id"] for p in preds] == [rec[SCHEMA.id] for rec in records[i:i + 64]]
        got_s += [p["score"] for p in preds]
        got_d += [p["decision"] for p in preds]
    assert len(got_s) == len(holdout)
    np.testing.assert_allclose(got_s, scores, rtol=0, atol=1e-9)
    assert got_d == list(decisions)


def test_one_at_a_time_equals_bundle_scores_and_flagged_rows_carry_reasons(client, holdout, expected):
    bundle, scores, decisions = expected
    flagged = np.flatnonzero(decisions != "approve")
    assert len(flagged) >= 10, "the test model flags too few holdout rows to check reasons"
    rows = np.union1d(np.arange(800), flagged)
    records = to_records(holdout.iloc[rows], SCHEMA)
    reasons_exp = bundle.explain(holdout.iloc[flagged], k=3)
    exp_by_row = dict(zip(flagged.tolist(), reasons_exp))
    for i, rec in zip(rows.tolist(), records):
        r = _post(client, rec)
        assert r.status_code == 200, r.text
        body = r.json()
        assert abs(body["score"] - scores[i]) <= 1e-9
        assert body["decision"] == decisions[i]
        assert body["model_version"] == RUN_A and body["transaction_id"] == rec[SCHEMA.id]
        if decisions[i] == "approve":
            assert "reasons" not in body
        else:
            assert [x["feature"] for x in body["reasons"]] == [x["feature"] for x in exp_by_row[i]]
            for x in body["reasons"]:
                assert x["contribution"] > 0
                got, sent = x["value"], rec[x["feature"]]
                assert got == sent or (isinstance(got, float) and math.isclose(got, sent, rel_tol=1e-6))


def test_explain_all_gives_reasons_for_approved_transactions(client, holdout, expected):
    _, _, decisions = expected
    i = int(np.flatnonzero(decisions == "approve")[0])
    rec = to_records(holdout.iloc[[i]], SCHEMA)[0]
    assert "reasons" not in _post(client, rec).json()
    assert _post(client, rec, params={"explain": "all"}).json()["reasons"]
    assert _post(client, rec, headers={"x-explain": "all"}).json()["reasons"]


def test_request_id_is_echoed_or_generated(client, holdout):
    rec = to_records(holdout.head(1), SCHEMA)[0]
    r = _post(client, rec, headers={"x-request-id": "req-abc-123"})
    assert r.headers["x-request-id"] == "req-abc-123" and r.json()["request_id"] == "req-abc-123"
    r1, r2 = _post(client, rec), _post(client, rec)
    assert re.fullmatch(r"[0-9a-f]{24}", r1.json()["request_id"])
    assert r1.json()["request_id"] != r2.json()["request_id"]


def _valid(holdout):
    return to_records(holdout.head(1), SCHEMA)[0]


@pytest.mark.parametrize("mutate, status, field, rule", [
    (lambda r: r.pop("amount"), 400, "amount", "required"),
    (lambda r: r.update(amount=-1.0), 400, "amount", "min"),
    (lambda r: r.update(amount="12"), 400, "amount", "type"),
    (lambda r: r.update(hour_of_day=99), 400, "hour_of_day", "max"),
    (lambda r: r.update(merchant_risk_score=float("nan")), 400, "merchant_risk_score", "finite"),
    (lambda r: r.update(proxy_score=float("-inf")), 400, "proxy_score", "finite"),
    (lambda r: r.update(card_present="maybe"), 400, "card_present", "type"),
])
def test_bad_fields_get_4xx_naming_field_rule_and_value(client, holdout, mutate, status, field, rule):
    rec = _valid(holdout)
    mutate(rec)
    r = _post(client, rec)
    assert r.status_code == status and r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert (err["field"], err["rule"]) == (field, rule)
    assert field in err["message"] and "received" in err


def test_transport_errors(client, holdout):
    rec = _valid(holdout)
    r = client.post("/invocations", content=json.dumps(rec), headers={"content-type": "text/csv"})
    assert r.status_code == 415 and r.json()["error"]["rule"] == "content_type"
    r = client.post("/invocations", content=b'{"amount": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["rule"] == "malformed_json"
    deep = b"[" * 100_000 + b"]" * 100_000  # deeper than orjson and the stdlib parser go: a 400, not a 500
    r = client.post("/invocations", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["rule"] == "malformed_json"
    r = _post(client, {"instances": [rec] * 65})
    assert r.status_code == 413 and r.json()["error"]["rule"] == "batch_size"
    big = {"instances": [rec] * 60, "padding": "x" * 210_000}
    r = _post(client, big)
    assert r.status_code == 413 and r.json()["error"]["rule"] == "body_size"
    r = client.get("/invocations")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["error"] == {"field": "method", "rule": "method", "received": "GET",
                                 "message": "/invocations takes POST; got GET"}
    r = client.post("/invocations?explain=all", content=json.dumps(rec),
                    headers={"content-type": "application/json", "x-request-id": "q-1"})
    assert r.status_code == 200 and r.json()["request_id"] == "q-1" and r.headers["x-request-id"] == "q-1"
    assert r.json()["reasons"] and r.headers["content-length"] == str(len(r.content))
    raw = json.dumps(rec).encode()  # a chunked upload arrives in several ASGI messages
    r = client.post("/invocations", content=iter([raw[:7], raw[7:50], raw[50:]]),
                    headers={"content-type": "application/json"})
    assert r.status_code == 200 and "score" in r.json()


def test_unknown_category_and_missing_nullable_score(client, holdout):
    rec = _valid(holdout)
    rec["currency"] = "XYZ"
    for f in SCHEMA.features:
        if f.nullable:
            rec.pop(f.name, None)
    r = _post(client, rec)
    assert r.status_code == 200 and 0.0 <= r.json()["score"] <= 1.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(record=record_strategy(SCHEMA))
def test_hypothesis_valid_records_score(client, record):
    r = _post(client, record)
    assert r.status_code == 200, r.text
    assert r.json()["decision"] in ("approve", "review", "decline")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(case=invalid_record_strategy(SCHEMA))
def test_hypothesis_invalid_records_get_4xx(client, case):
    record, name = case
    r = _post(client, record)
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert err["field"] == name and err["message"]


def test_server_healthy_after_all_that(client, server):
    assert client.get("/ping").status_code == 200
    assert server.proc.poll() is None


def test_metrics_count_decisions_and_failures(client, holdout):
    before = client.get("/metrics").text
    _post(client, dict(_valid(holdout), amount=-3.0))
    after = client.get("/metrics").text

    def value(text, key):
        m = re.search(re.escape(key) + r" (\d+)", text)
        return int(m.group(1)) if m else 0

    assert value(after, 'fraud_failures_total{reason="min"}') == value(before, 'fraud_failures_total{reason="min"}') + 1
    assert value(after, 'fraud_decisions_total{decision="approve"}') > 0
    assert value(after, "fraud_request_latency_ms_count") > value(before, "fraud_request_latency_ms_count")


def test_capture_records_follow_the_contract(client, holdout, capture_dir):
    rec = _valid(holdout)
    ok = _post(client, rec, headers={"x-request-id": "capture-ok-1"}).json()
    _post(client, dict(rec, amount=-2.0), headers={"x-request-id": "capture-bad-1"})
    found = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(found) < 2:
        time.sleep(0.3)
        for path in capture_dir.glob("capture/*/*/*.jsonl"):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", path.parent.parent.name)
            assert re.fullmatch(r"\d{2}", path.parent.name)
            assert re.fullmatch(r".+-\d+\.jsonl", path.name)
            for line in path.read_text().splitlines():
                doc = json.loads(line)
                if doc["request_id"] in ("capture-ok-1", "capture-bad-1"):
                    found[doc["request_id"]] = doc
    good, bad = found["capture-ok-1"], found["capture-bad-1"]
    assert good["status"] == "ok" and good["model_version"] == RUN_A
    assert good["score"] == ok["score"] and good["decision"] == ok["decision"]
    assert good["input"] == rec and good["transaction_id"] == rec[SCHEMA.id]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", good["time"])
    assert good["latency_ms"] > 0 and isinstance(good["reasons"], list)
    assert bad["status"] == "error" and bad["http_status"] == 400
    assert bad["error"]["field"] == "amount" and bad["error"]["rule"] == "min" and bad["error"]["received"] == -2.0
    assert bad["transaction_id"] == rec[SCHEMA.id] and "score" not in bad
