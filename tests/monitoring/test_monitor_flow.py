"""MonitorFlow end to end through metaflow.Runner on a small capture folder with a few bad lines."""
from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
from metaflow import Runner
from monitor_helpers import capture_records, labels_for, window_for, write_capture

from aws.emulator import start_emulator

FLOW = Path(__file__).resolve().parents[2] / "flows" / "monitor.py"


def test_monitor_flow_reports_tags_and_draws_a_card(tmp_path, bundle, bundle_dir):
    frame = window_for("feed_outage", rows=3000)
    root = write_capture(tmp_path / "capture-root", capture_records(frame, bundle))
    day = frame["event_time"].max().strftime("%Y-%m-%d")
    with open(root / "capture" / day / "23" / "w9-0.jsonl", "ab") as fh:
        fh.write(b'{"request_id": "x", "time": "2026-11-30T23:00:00Z"}\n{"truncated": ')
    labels = tmp_path / "labels.parquet"
    labels_for(frame).to_parquet(labels)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    emulator = start_emulator()
    env = {**os.environ, "METAFLOW_USER": os.environ.get("METAFLOW_USER", "paylink-test"),
           "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path / "mf"), "AWS_ENDPOINT_URL": emulator.url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty)}
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    try:
        _run_flow(tmp_path, env, root, labels, bundle_dir, emulator.url)
    finally:
        emulator.stop()


def _run_flow(tmp_path, env, root, labels, bundle_dir, endpoint) -> None:
    with Runner(str(FLOW), env=env, cwd=str(tmp_path)).run(
            capture=str(root), bundle=str(bundle_dir), labels=str(labels), as_of="2027-02-15T00:00:00Z",
            window_days=0) as running:
        assert running.status == "successful", running.stderr
        run = running.run
        data = run.data
        assert data.verdict == "investigate"
        assert f"verdict:{data.verdict}" in run.tags
        report = data.report
        assert report["capture"]["bad_lines"] == 2
        assert report["capture"]["bad_by_reason"] == {"truncated": 1, "wrong_schema": 1}
        shifted = {s["subject"] for s in report["signals"] if s["name"] == "missing_rate_shift"}
        assert shifted == {"merchant_risk_score", "merchant_chargeback_rate_90d"}
        # AWS_ENDPOINT_URL is set, so --publish auto sent the figures to the emulator's CloudWatch
        cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        listed = {m["MetricName"] for m in cw.list_metrics(Namespace="PayLink/Fraud/Monitoring")["Metrics"]}
        assert "MissingRateShift" in data.published and set(data.published) <= listed
        assert data.metrics["MissingRateShift"][0] > 0.15
        assert data.retrain_run is None

    out = tmp_path / "card.html"
    proc = subprocess.run([sys.executable, str(FLOW), "card", "get", f"{run.id}/start", str(out), "--id", "monitor"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the card's components are embedded as base64 JSON
    payload = re.search(r'__MF_DATA__\["[^"]+"\] = "([^"]+)"', out.read_text()).group(1)
    html = base64.b64decode(payload).decode()
    assert "INVESTIGATE" in html and "merchant_risk_score" in html and "Quality by label maturity" in html
