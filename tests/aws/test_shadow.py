"""Shadow testing (issue 17, item 7): a challenger beside the live model, compared from capture, on the emulator."""
from __future__ import annotations

import json

import pytest

from deploy.sagemaker import DeployError, deploy_bundle, endpoint_status
from deploy.shadow import compare, shadow_history, start_shadow, stop_shadow
from fraudcore.bundle import load_bundle
from fraudcore.cli import main as fraud


def _deploy(aws, bundle, reason="test"):
    aws.queue_answers(bundle)
    return deploy_bundle(aws.clients, aws.cfg, bundle, reason=reason)


def _capture(aws, prefix, records):
    body = "\n".join(json.dumps(r) for r in records).encode()
    aws.admin.s3.put_object(Bucket=aws.cfg.storage.bucket, Key=f"{prefix}/2099-01-01/00/worker-0.jsonl", Body=body)


def _records(version, decisions, scores):
    return [{"request_id": f"{version}-{i}", "transaction_id": 5000 + i, "time": "2099-01-01T00:00:00.000Z",
             "model_version": version, "status": "ok", "score": s, "decision": d}
            for i, (d, s) in enumerate(zip(decisions, scores))]


def test_a_shadow_runs_beside_the_live_model_and_never_answers(aws, make_bundle):
    live = _deploy(aws, make_bundle("901"))
    record = start_shadow(aws.clients, aws.cfg, load_bundle(make_bundle("902")), reason="try the retrain")
    sm = aws.clients.sagemaker
    endpoint = sm.describe_endpoint(EndpointName=aws.cfg.endpoint.name)
    assert endpoint["EndpointConfigName"] == record.endpoint_config_name
    config = sm.describe_endpoint_config(EndpointConfigName=record.endpoint_config_name)
    (production,) = config["ProductionVariants"]
    assert (production["VariantName"], production["ModelName"]) == ("AllTraffic", live.staged.model_name)
    (shadow,) = config["ShadowProductionVariants"]
    assert shadow["VariantName"] == "Shadow" and shadow["InitialInstanceCount"] == 2
    env = sm.describe_model(ModelName=shadow["ModelName"])["PrimaryContainer"]["Environment"]
    # Its own metrics dimension and capture prefix: the live alarms and MonitorFlow never see the shadow.
    assert env["PAYLINK_MODEL_VERSION"] == "902" and env["PAYLINK_VARIANT_NAME"] == "Shadow"
    assert env["PAYLINK_CAPTURE_URI"] == "s3://paylink-fraud-artifacts/capture/shadow"
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://paylink-fraud-artifacts/capture/sagemaker"
    status = endpoint_status(aws.clients, aws.cfg)
    assert status["run_id"] == "901"  # what answers callers is still the live run
    assert [r.event for r in shadow_history(aws.clients, aws.cfg)] == ["shadow-start"]
    with pytest.raises(DeployError, match="already runs a shadow"):
        start_shadow(aws.clients, aws.cfg, load_bundle(make_bundle("903")), reason="again")
    # Shadow variants are checked as SageMaker checks them (the emulator's stand-in).
    variant = {"VariantName": "AllTraffic", "ModelName": live.staged.model_name, "InstanceType": "ml.c5.large",
               "InitialInstanceCount": 1}
    with pytest.raises(Exception, match="used by a production variant and a shadow variant"):
        aws.admin.sagemaker.create_endpoint_config(EndpointConfigName="x", ProductionVariants=[variant], ShadowProductionVariants=[variant])

    stopped = stop_shadow(aws.clients, aws.cfg, reason="seen enough")
    assert sm.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointConfigName"] == \
        live.staged.endpoint_config_name == stopped.endpoint_config_name
    with pytest.raises(DeployError, match="run '901' is the live model"):
        start_shadow(aws.clients, aws.cfg, load_bundle(make_bundle("901")), reason="x")


def test_a_deploy_replaces_a_running_shadow_with_a_canary(aws, make_bundle):
    _deploy(aws, make_bundle("911"))
    start_shadow(aws.clients, aws.cfg, load_bundle(make_bundle("912")), reason="shadow first")
    promoted = _deploy(aws, make_bundle("912"), "the shadow looked right")
    (call,) = [c for c in aws.emulator.update_endpoint_calls if c.endpoint_config_name ==
               promoted.staged.endpoint_config_name]
    assert call.outcome == "updated"
    assert call.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert "ShadowProductionVariants" not in aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)


def test_shadow_report_joins_capture_by_transaction_id(aws, make_bundle, capsys):
    _deploy(aws, make_bundle("931"))
    assert fraud(["deploy", "shadow", "--bundle", str(make_bundle("932")), "--reason", "compare"]) == 0
    capsys.readouterr()
    _capture(aws, "capture/service", _records("931", ["approve", "approve", "review", "decline"], [0.1, 0.2, 0.6, 0.9])
             + _records("930", ["decline"], [0.99]))  # an older model's records are not joined
    _capture(aws, "capture/shadow", _records("932", ["approve", "review", "review", "review"], [0.1, 0.5, 0.6, 0.7]))
    assert fraud(["deploy", "shadow-report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["joined"], report["live_run_id"], report["shadow_run_id"]) == (4, "931", "932")
    assert report["agreement"] == pytest.approx(0.5)
    assert report["score_shift_mean"] == pytest.approx((0.0 + 0.3 + 0.0 - 0.2) / 4)
    assert report["live_alert_rate"] == pytest.approx(0.5) and report["shadow_alert_rate"] == pytest.approx(0.75)
    assert report["alert_rate_change"] == pytest.approx(0.25)
    assert report["disagreements"] == {"approve->review": 1, "decline->review": 1}


def test_compare_with_nothing_joined_says_so():
    report = compare([], _records("2", ["approve"], [0.1]), shadow_run_id="2", live_run_id="1")
    assert report["joined"] == 0 and report["agreement"] is None and report["shadow_records"] == 1


@pytest.mark.slow
def test_shadowflow_draws_the_comparison_card(aws, make_bundle, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    _deploy(aws, make_bundle("951"))
    start_shadow(aws.clients, aws.cfg, load_bundle(make_bundle("952")), reason="card")
    _capture(aws, "capture/service", _records("951", ["approve", "decline"], [0.1, 0.9]))
    _capture(aws, "capture/shadow", _records("952", ["approve", "review"], [0.1, 0.7]))
    flow = str(Path(__file__).resolve().parents[2] / "flows" / "shadow.py")
    env = {**os.environ, "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path), "METAFLOW_HOME": str(tmp_path / "home"),
           "METAFLOW_DEFAULT_METADATA": "local", "METAFLOW_DEFAULT_DATASTORE": "local"}
    out = subprocess.run([sys.executable, flow, "--no-pylint", "run"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "shadow 952 vs live 951: 2 joined, agreement 0.5" in out.stdout + out.stderr
    from deploy.shadow import shadow_card

    rendered = json.dumps([c.render() for c in shadow_card(compare(
        _records("951", ["approve", "decline"], [0.1, 0.9]), _records("952", ["approve", "review"], [0.1, 0.7]),
        shadow_run_id="952", live_run_id="951"))], default=str)
    assert "Shadow test: run `952` beside live run `951`" in rendered and "decline->review" in rendered
