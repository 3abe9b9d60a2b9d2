"""Figures reach CloudWatch as real PutMetricData calls, under the names deploy/alarms.py alarms on."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from monitor_helpers import capture_records, labels_for, window_for, write_capture

from aws.emulator import start_emulator
from deploy.alarms import MONITORING_NAMESPACE, alarm_specs, ensure_alarms
from deploy.config import load_deploy_config
from fraudcore.monitoring.config import load_monitor_config
from fraudcore.monitoring.publish import cloudwatch_client, publish_report
from fraudcore.monitoring.report import MonitorWindow, run_monitor

FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for k, v in FAKE_AWS.items():
        mp.setenv(k, v)
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        mp.delenv(k, raising=False)
    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    mp.setenv("AWS_CONFIG_FILE", str(empty))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    with start_emulator() as emu:
        emu.reset()  # moto's state is per process: forget metrics other tests published
        mp.setenv("AWS_ENDPOINT_URL", emu.url)
        yield emu
    mp.undo()


@pytest.fixture(scope="module")
def outage_report(tmp_path_factory, bundle):
    frame = window_for("feed_outage", rows=10_000)
    root = write_capture(tmp_path_factory.mktemp("cap"), capture_records(frame, bundle))
    as_of = (frame["event_time"].max() + timedelta(days=75)).floor("s").to_pydatetime()
    return run_monitor(str(root), bundle, labels_for(frame), load_monitor_config(),
                       MonitorWindow(as_of=as_of, days=0))


def test_metrics_reach_the_emulator_and_match_the_alarms(emulator, outage_report):
    cfg = load_monitor_config()
    cw = cloudwatch_client()
    assert cw.meta.endpoint_url == emulator.url
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sent = publish_report(cw, outage_report, cfg.publish, timestamp=now)

    listed = {m["MetricName"]: m for m in cw.list_metrics(Namespace=cfg.publish.namespace)["Metrics"]}
    assert set(sent) <= set(listed)
    for m in listed.values():
        assert m["Dimensions"] == [{"Name": "EndpointName", "Value": cfg.publish.endpoint_name}]
    alarmed = {s.metric for s in alarm_specs(load_deploy_config()) if s.namespace == MONITORING_NAMESPACE}
    assert alarmed and alarmed <= set(sent)
    assert cfg.publish.namespace == MONITORING_NAMESPACE

    dims = [{"Name": "EndpointName", "Value": cfg.publish.endpoint_name}]
    queries = [{"Id": f"m{i}", "MetricStat": {"Metric": {"Namespace": cfg.publish.namespace, "MetricName": name,
                                                         "Dimensions": dims}, "Period": 60, "Stat": "Maximum"}}
               for i, name in enumerate(("MissingRateShift", "VerdictLevel", "PRAUC"))]
    got = cw.get_metric_data(MetricDataQueries=queries, StartTime=now - timedelta(minutes=5),
                             EndTime=now + timedelta(minutes=5))["MetricDataResults"]
    values = {r["Id"]: r["Values"] for r in got}
    assert values["m0"] == [pytest.approx(outage_report.drift.max_missing_shift)]
    assert values["m0"][0] > 0.15
    assert values["m1"] == [1.0]  # investigate
    assert outage_report.quality.judged
    assert values["m2"] == [pytest.approx(outage_report.quality.pooled.pr_auc)]

    # the deploy edge's alarms can be created on these very metrics
    names = ensure_alarms(boto3.client("cloudwatch"), load_deploy_config())
    described = boto3.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert {a["MetricName"] for a in described} >= alarmed


def test_unjudged_figures_are_not_published(emulator, bundle, tmp_path):
    frame = window_for("in_distribution", rows=400)  # below drift.min_rows, and no labels at all
    root = write_capture(tmp_path, capture_records(frame, bundle))
    report = run_monitor(str(root), bundle, None, load_monitor_config(), MonitorWindow(days=0))
    sent = publish_report(cloudwatch_client(), report, load_monitor_config().publish)
    assert not report.drift.judged and not report.quality.judged
    assert "DriftMaxPSI" not in sent and "PRAUC" not in sent
    assert {"LatencyP99", "Requests", "FailureRate", "VerdictLevel"} <= set(sent)
