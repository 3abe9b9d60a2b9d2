"""The capture reader counts and quotes every unusable line, keeps every usable one, and never raises on content."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import orjson
import pytest
from monitor_helpers import capture_records, window_for, write_capture

from fraudcore.monitoring.capture import CaptureError, read_capture
from fraudcore.monitoring.config import load_monitor_config
from fraudcore.monitoring.report import MonitorError, MonitorWindow, run_monitor


@pytest.fixture(scope="module")
def records(bundle):
    return capture_records(window_for("in_distribution", rows=1500), bundle)


def _error_record(rec: dict, rule: str, field: str, status: int = 422) -> dict:
    return {"request_id": rec["request_id"] + "e", "time": rec["time"], "model_version": rec["model_version"],
            "status": "error", "http_status": status, "latency_ms": 0.3,
            "error": {"field": field, "rule": rule, "received": -5, "message": f"{field} broke {rule}"}}


def test_bad_lines_are_counted_by_reason_and_quoted(tmp_path, bundle, records):
    good = records[:200]
    wrong_type = dict(records[200], input={**records[200]["input"], "amount": "12.50"})
    no_score = {k: v for k, v in records[201].items() if k != "score"}
    bad_time = dict(records[202], time="yesterday")
    folder = tmp_path / "capture" / records[0]["time"][:10] / "00"
    folder.mkdir(parents=True)
    lines = [orjson.dumps(r) for r in good[:100]]
    lines += [b"{not json", orjson.dumps(wrong_type), orjson.dumps(no_score), orjson.dumps(bad_time), b"[1, 2]"]
    lines += [orjson.dumps(r) for r in good[100:]]
    lines += [orjson.dumps(_error_record(good[0], "min", "amount"))]
    truncated = orjson.dumps(records[203])[:57]  # a worker killed mid-write: no newline at the end
    (folder / "w1-0.jsonl").write_bytes(b"\n".join(lines) + b"\n" + truncated)

    window = read_capture(tmp_path, bundle.schema)
    summary = window.summary()
    assert len(window.scored) == 200 and len(window.failures) == 1
    assert summary["bad_by_reason"] == {"truncated": 1, "invalid_json": 1, "wrong_schema": 3, "not_an_object": 1}
    assert summary["lines"] == 207 and summary["bad_lines"] == 6
    details = {(e["line"], e["reason"]): e["detail"] for e in summary["bad_examples"]}
    assert "'amount' must be float" in details[(102, "wrong_schema")] and "'12.50'" in details[(102, "wrong_schema")]
    assert "'score' must be a number" in details[(103, "wrong_schema")]
    assert "'time' must be ISO-8601" in details[(104, "wrong_schema")]
    assert (207, "truncated") in details
    assert window.failures.iloc[0]["rule"] == "min" and window.failures.iloc[0]["field"] == "amount"

    # the whole run goes on, and the report carries the bad lines and a signal about them
    report = run_monitor(str(tmp_path), bundle, None, load_monitor_config(),
                         MonitorWindow(as_of=datetime(2027, 1, 1, tzinfo=timezone.utc), days=0))
    assert report.capture["bad_lines"] == 6
    bad = [s for s in report.signals if s.name == "bad_capture_lines"]
    assert bad and bad[0].value == pytest.approx(6 / 207)
    json.dumps(report.to_dict(), allow_nan=False)


def test_window_filter_uses_time_and_skips_other_days(tmp_path, bundle, records):
    write_capture(tmp_path, records)
    day = records[700]["time"][:10]
    start = datetime.fromisoformat(day + "T00:00:00+00:00")
    end = datetime.fromisoformat(day + "T23:59:59+00:00")
    window = read_capture(tmp_path, bundle.schema, start, end)
    expected = sum(1 for r in records if r["time"][:10] == day)
    assert len(window.scored) == expected > 0
    assert window.files <= 24  # only that day's folder was opened


def test_failures_become_a_rate_by_reason(tmp_path, bundle, records):
    errors = [_error_record(r, "min", "amount") for r in records[:60]]
    errors += [_error_record(r, "json", "body", status=400) for r in records[60:80]]
    write_capture(tmp_path, records[:1000] + errors)
    report = run_monitor(str(tmp_path), bundle, None, load_monitor_config(),
                         MonitorWindow(as_of=datetime(2027, 1, 1, tzinfo=timezone.utc), days=0))
    ops = report.operations
    assert ops.failure_rate == pytest.approx(80 / 1080)
    assert ops.failures_by_reason[0] == {"rule": "min", "field": "amount", "count": 60, "rate": pytest.approx(60 / 1080)}
    assert [s.name for s in report.signals if s.subject == "failures"] == ["failure_rate"]
    assert sum(b["count"] for b in ops.buckets) == 1080
    assert ops.latency_ms["p50"] < ops.latency_ms["p95"] < ops.latency_ms["p99"]


def test_sampled_capture_does_not_inflate_the_failure_rate(tmp_path, bundle, records):
    """With 10% of successes captured, 100 captured successes stand for 1000 requests."""
    write_capture(tmp_path, records[:100] + [_error_record(r, "min", "amount") for r in records[:10]])
    cfg = load_monitor_config(overrides={"capture": {"sample_rate": 0.1}})
    report = run_monitor(str(tmp_path), bundle, None, cfg,
                         MonitorWindow(as_of=datetime(2027, 1, 1, tzinfo=timezone.utc), days=0))
    assert report.operations.requests == pytest.approx(1010)
    assert report.operations.failure_rate == pytest.approx(10 / 1010)


def test_missing_location_and_foreign_model_version_are_clear_errors(tmp_path, bundle, records):
    with pytest.raises(CaptureError, match="does not exist"):
        read_capture(tmp_path / "nowhere", bundle.schema)
    write_capture(tmp_path, [dict(r, model_version="other-run") for r in records[:50]])
    with pytest.raises(MonitorError, match="no scored records from model version 'demo'.*other-run"):
        run_monitor(str(tmp_path), bundle, None, load_monitor_config(), MonitorWindow(days=0))


def test_an_empty_window_is_reported_not_crashed(tmp_path, bundle):
    (tmp_path / "capture" / "2026-11-01" / "00").mkdir(parents=True)
    report = run_monitor(str(tmp_path), bundle, None, load_monitor_config(),
                         MonitorWindow(as_of=datetime(2026, 11, 2, tzinfo=timezone.utc), days=1))
    assert report.capture["scored"] == 0 and not report.drift.judged and not report.quality.judged
    assert [s.name for s in report.signals] == ["no_traffic"] and report.verdict == "investigate"
    json.dumps(report.to_dict(), allow_nan=False)
