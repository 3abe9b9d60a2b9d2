"""The container entrypoint as a plain process: SageMaker's contract, S3 capture, EMF, graceful SIGTERM."""
from __future__ import annotations

import json
import re
import signal
import sys
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

import boto3
import httpx
import pytest
from serving_support import RUN_A, free_port, start_server, to_records

from aws.emulator import start_emulator
from fraudcore.schema import paylink_schema
from fraudcore.serving.cli import config_from_args

SERVE = Path(__file__).resolve().parents[2] / "deploy" / "container" / "serve"
SCHEMA = paylink_schema()
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1"}


def test_entrypoint_defaults_follow_the_sagemaker_contract():
    entry = SourceFileLoader("paylink_serve_entrypoint", str(SERVE)).load_module()
    cfg = config_from_args(entry.argv_from_env({}))
    assert (cfg.port, cfg.model, cfg.host) == (8080, "/opt/ml/model", "0.0.0.0")
    assert cfg.workers >= 1 and cfg.emf and cfg.capture is None and cfg.graceful_timeout_s < 30
    cfg = config_from_args(entry.argv_from_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "3",
                                                "PAYLINK_CAPTURE_URI": "s3://b/p"}))
    assert cfg.workers == 3 and cfg.capture == "s3://b/p" and cfg.capture_sample == 0.01


@pytest.fixture
def emulator(monkeypatch):
    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    with start_emulator() as emu:
        yield emu


def test_container_serves_captures_to_s3_and_stops_gracefully(emulator, bundle_a, holdout, tmp_path):
    s3 = boto3.client("s3", endpoint_url=emulator.url, region_name="us-east-1")
    s3.create_bucket(Bucket="capture-bucket")
    port = free_port()
    env = {**FAKE_AWS, "AWS_ENDPOINT_URL": emulator.url, "PAYLINK_MODEL_DIR": str(bundle_a),
           "SAGEMAKER_BIND_TO_PORT": str(port), "PAYLINK_BIND_HOST": "127.0.0.1",
           "SAGEMAKER_MODEL_SERVER_WORKERS": "2", "PAYLINK_CAPTURE_URI": "s3://capture-bucket/endpoint-a",
           "PAYLINK_CAPTURE_SAMPLE": "1", "PAYLINK_EMF_INTERVAL_S": "1",
           "PAYLINK_ENDPOINT_NAME": "fraud-test", "PAYLINK_VARIANT_NAME": "AllTraffic"}
    log = tmp_path / "container.log"
    srv = start_server([], log, env=env, cmd=[sys.executable, str(SERVE)], port=port)
    sent = []
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/ping").json()["model_version"] == RUN_A
            for i, rec in enumerate(to_records(holdout.head(20), SCHEMA)):
                if i % 10 == 9:
                    rec["amount"] = -1.0
                rid = f"container-{i}"
                r = c.post("/invocations", json=rec, headers={"x-request-id": rid})
                assert r.status_code == (400 if i % 10 == 9 else 200), r.text
                sent.append(rid)
        time.sleep(2.5)  # at least one EMF interval
    finally:
        code = srv.stop(signal.SIGTERM, timeout=30)
    assert code == 0, log.read_text()[-2000:]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="capture-bucket", Prefix="endpoint-a/")["Contents"]]
    for key in keys:
        assert re.fullmatch(r"endpoint-a/capture/\d{4}-\d{2}-\d{2}/\d{2}/.+-\d+\.jsonl", key), key
    records = [json.loads(line) for key in keys
               for line in s3.get_object(Bucket="capture-bucket", Key=key)["Body"].read().decode().splitlines()]
    by_id = {r["request_id"]: r for r in records}
    assert sorted(by_id) == sorted(sent)  # every request, flushed before exit
    assert by_id["container-9"]["status"] == "error" and by_id["container-9"]["error"]["field"] == "amount"
    assert by_id["container-0"]["status"] == "ok" and by_id["container-0"]["model_version"] == RUN_A
    emf = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"') and '"_aws"' in line]
    assert emf, log.read_text()[-2000:]
    doc = emf[0]
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "PayLink/Fraud"
    assert directive["Dimensions"] == [["EndpointName", "VariantName"], ["EndpointName", "ModelVersion", "VariantName"]]
    # The canary's behaviour alarms read these, per model version (deploy/behaviour.py).
    assert {"AlertRate", "DeclineRate", "ScoreMean"} <= {m["Name"] for m in directive["Metrics"]}
    assert doc["ModelVersion"] == RUN_A and 0.0 <= doc["ScoreMean"] <= 1.0
    assert doc["EndpointName"] == "fraud-test" and doc["VariantName"] == "AllTraffic"
    assert {"Latency", "Requests", "InvalidInputRate"} <= {m["Name"] for m in directive["Metrics"]}
    total_requests = sum(d["Requests"] for d in emf)
    total_invalid = sum(d["InvalidInputs"] for d in emf)
    assert (total_requests, total_invalid) == (20, 2)
