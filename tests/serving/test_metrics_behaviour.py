"""The model-behaviour metrics the canary's rollback alarms read (deploy/behaviour.py)."""
from __future__ import annotations

import pytest

from fraudcore.serving.metrics import Metrics


def test_emf_reports_alert_rate_decline_rate_and_mean_score_per_model_version():
    m = Metrics()
    m.model_version = "1764000000000042"
    m.observe(1.0, 200, ["approve", "review"], scores=[0.1, 0.5])
    m.observe(1.0, 200, ["decline"], scores=[0.9])
    m.observe(1.0, 400, failure="range")
    doc = m.emf_record({"EndpointName": "e", "VariantName": "v"})
    assert doc["AlertRate"] == pytest.approx(2 / 3) and doc["DeclineRate"] == pytest.approx(1 / 3)
    assert doc["ScoreMean"] == pytest.approx(0.5)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert ["EndpointName", "ModelVersion", "VariantName"] in directive["Dimensions"]
    assert doc["ModelVersion"] == "1764000000000042"
    # The next interval starts empty: only invalid input, no behaviour figures.
    m.observe(1.0, 400, failure="range")
    assert "ScoreMean" not in m.emf_record({"EndpointName": "e", "VariantName": "v"})


def test_emf_reports_the_checkout_forms_store_read_and_enrichment_times_per_interval():
    m = Metrics()
    m.observe(1.0, 200, ["approve"], scores=[0.1])
    m.observe_online(0, 1, read_ms=3.5, enrich_ms=4.0)
    m.observe_online(1, 1, read_ms=25.0, enrich_ms=25.5)
    doc = m.emf_record({"EndpointName": "e", "VariantName": "v"})
    names = {x["Name"]: x["Unit"] for x in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names["OnlineReadLatency"] == names["OnlineEnrichLatency"] == "Milliseconds"
    assert doc["OnlineReadLatency"] == [3.5, 25.0] and doc["OnlineEnrichLatency"] == [4.0, 25.5]
    assert doc["OnlineDegradedRate"] == 0.5
    m.observe(1.0, 200, ["approve"], scores=[0.1])
    assert "OnlineReadLatency" not in m.emf_record({"EndpointName": "e", "VariantName": "v"})   # a new interval
    text = m.prometheus()
    assert 'fraud_online_read_ms_bucket{le="5"} 1' in text and "fraud_online_read_ms_count 2" in text
