"""MonitorFlow's AWS calls, signed as the roles that make them: the Batch job role (MonitorFlow on Batch) and the
monitor policy (`fraud monitor` or MonitorFlow run by an operator). Each reads the container's capture from S3 and
publishes the monitoring figures; tests/aws/test_zz_iam_audit.py judges the calls against deploy/iam."""
from __future__ import annotations

import json

import boto3
import pytest

from fraudcore.monitoring.capture import read_capture
from fraudcore.monitoring.config import load_monitor_config
from fraudcore.monitoring.publish import cloudwatch_client, publish_metrics
from fraudcore.schema import paylink_schema
from aws.iam_audit import ROLE_KEYS


@pytest.mark.parametrize("role", ["batch-job", "monitor"])
def test_monitoring_reads_capture_and_publishes_as_its_role(aws, monkeypatch, role):
    key = f"{aws.cfg.storage.capture_prefix}/service/2026-11-30/23/w1-0.jsonl"
    aws.admin.s3.put_object(Bucket=aws.cfg.storage.bucket, Key=key,
                            Body=json.dumps({"request_id": "r1", "time": "2026-11-30T23:00:00Z"}).encode() + b"\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ROLE_KEYS[role])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3.client() keeps the first credentials it saw
    window = read_capture(aws.cfg.storage.service_capture_uri, paylink_schema())
    assert window.files == 1
    publish = load_monitor_config().publish
    names = publish_metrics(cloudwatch_client(aws.cfg.region), {"DriftMaxPSI": (0.1, "None")}, publish)
    assert names == ["DriftMaxPSI"]
    listed = aws.admin.cloudwatch.list_metrics(Namespace=publish.namespace)["Metrics"]
    assert [m["MetricName"] for m in listed] == ["DriftMaxPSI"]
