"""Publish a monitoring report's figures to CloudWatch with PutMetricData.

Namespace and dimension (`EndpointName`) match the alarms `deploy/alarms.py` defines on them:
DriftMaxPSI, MissingRateShift and AlertRateRatio. The other figures are published too, for dashboards
and for alarms yet to come. Figures that were not judged (too few rows, immature labels) are left out
rather than sent as zeros, so an alarm never fires or clears on a number that means nothing.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from fraudcore.monitoring.config import PublishConfig
from fraudcore.monitoring.report import MonitorReport
from fraudcore.monitoring.signals import LEVELS

# The alarmed metrics, named as in deploy/alarms.py.
DRIFT_MAX_PSI, MISSING_RATE_SHIFT, ALERT_RATE_RATIO = "DriftMaxPSI", "MissingRateShift", "AlertRateRatio"
_BATCH = 20  # PutMetricData accepts up to 1000 metrics a call now, 20 on older API limits; 20 is safe everywhere


def report_metrics(report: MonitorReport) -> dict[str, tuple[float, str]]:
    """Metric name -> (value, CloudWatch unit) for every figure the report can vouch for."""
    out: dict[str, tuple[float, str]] = {}
    d, ops, q = report.drift, report.operations, report.quality
    if d.judged:
        out[DRIFT_MAX_PSI] = (d.max_psi, "None")
        out["DriftMaxPSIClustered"] = (d.max_psi_clustered, "None")
        out[MISSING_RATE_SHIFT] = (d.max_missing_shift, "None")
        if d.score.psi is not None:
            out["ScorePSI"] = (d.score.psi, "None")
        if d.score.alert_rate_ratio is not None:
            out[ALERT_RATE_RATIO] = (d.score.alert_rate_ratio, "None")
            out["AlertRate"] = (float(d.score.alert_rate or 0.0), "None")
    for key, name in (("p50", "LatencyP50"), ("p95", "LatencyP95"), ("p99", "LatencyP99")):
        if ops.latency_ms.get(key) is not None:
            out[name] = (float(ops.latency_ms[key]), "Milliseconds")
    out["Requests"] = (ops.requests, "Count")
    out["FailureRate"] = (ops.failure_rate, "None")
    out["BadCaptureLineRate"] = (ops.bad_line_rate, "None")
    if q.pooled is not None:
        out["LabelMaturity"] = (q.pooled.maturity, "None")
    if q.judged and q.pooled is not None:
        p, ref = q.pooled, q.reference
        for name, v in (("PRAUC", p.pr_auc), ("RecallAtThreshold", p.recall), ("PrecisionAtThreshold", p.precision)):
            if v is not None:
                out[name] = (float(v), "None")
        if p.pr_auc is not None and ref.pr_auc:
            out["PRAUCRatio"] = (p.pr_auc / ref.pr_auc, "None")
    out["VerdictLevel"] = (float(LEVELS.index(report.verdict)), "None")  # 0 healthy, 1 investigate, 2 retrain
    return {k: v for k, v in out.items() if math.isfinite(v[0])}


def publish_metrics(cloudwatch: Any, metrics: dict[str, tuple[float, str]], cfg: PublishConfig,
                    timestamp: datetime | None = None) -> list[str]:
    """PutMetricData each (value, unit) under cfg.namespace with dimension EndpointName; returns the names."""
    when = timestamp or datetime.now(timezone.utc)
    dims = [{"Name": "EndpointName", "Value": cfg.endpoint_name}]
    data = [{"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": float(value), "Unit": unit}
            for name, (value, unit) in sorted(metrics.items())]
    for i in range(0, len(data), _BATCH):
        cloudwatch.put_metric_data(Namespace=cfg.namespace, MetricData=data[i:i + _BATCH])
    return [d["MetricName"] for d in data]


def publish_report(cloudwatch: Any, report: MonitorReport, cfg: PublishConfig,
                   timestamp: datetime | None = None) -> list[str]:
    """Publish every figure of `report` (see `report_metrics`)."""
    return publish_metrics(cloudwatch, report_metrics(report), cfg, timestamp)


def cloudwatch_client(region: str | None = None) -> Any:
    """A boto3 CloudWatch client; boto3 itself honours AWS_ENDPOINT_URL (the emulator in tests)."""
    import boto3

    return boto3.client("cloudwatch", region_name=region)
