"""`make aws-drill` (issue 17, item 8): skipped without credentials; the drill's own code run on the emulator."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deploy.alarms import rollback_alarm_names
from deploy.drill import clean_up_drill, drill_config, run_drill
from deploy.history import read_history

ROOT = Path(__file__).resolve().parents[2]


def test_without_credentials_the_drill_says_skipped_and_exits_0(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty), AWS_EC2_METADATA_DISABLED="true",
               HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "deploy.drill"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("aws-drill: skipped: no AWS credentials found")


def test_make_runs_the_drill_only_when_asked():
    dry = subprocess.run(["make", "-n", "aws-drill"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "-m deploy.drill" in dry.stdout
    test = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "deploy.drill" not in test.stdout


def test_the_drill_runs_end_to_end_on_the_emulator(aws, tmp_path, capsys):
    cfg = drill_config(aws.cfg)
    assert cfg.endpoint.name == "paylink-fraud-drill" and cfg.approval.model_package_group == "paylink-fraud-drill"

    def answers(bundle: Path) -> None:  # what the real container would answer (moto has none)
        aws.queue_answers(bundle)

    report = run_drill(aws.clients, cfg, tmp_path, before_smoke=answers, keep=True, stamp="1")
    steps = [s["step"] for s in report.steps]
    assert steps == ["bundles", "deploy", "canary", "forced-rollback", "manual-rollback", "shadow-start",
                     "shadow-report", "shadow-stop", "approval-request", "approve"]
    assert all(s["ok"] for s in report.steps) and all(s["seconds"] >= 0 for s in report.steps)
    assert "rolled back as forced" in report.steps[3]["detail"]
    printed = capsys.readouterr().out
    assert "aws-drill: forced-rollback" in printed and " s " in printed
    outcomes = [(r.event, r.outcome, r.run_id) for r in read_history(aws.clients.s3, cfg)]
    assert outcomes == [("deploy", "live", "drill10"), ("deploy", "live", "drill11"),
                        ("deploy", "auto-rolled-back", "drill12"), ("rollback", "live", "drill10")]
    # The drill resets the alarm state it forced.
    (alarm,) = aws.clients.cloudwatch.describe_alarms(AlarmNames=[rollback_alarm_names(cfg)[0]])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"
    # The real endpoint was never touched.
    assert [e["EndpointName"] for e in aws.admin.sagemaker.list_endpoints()["Endpoints"]] == ["paylink-fraud-drill"]

    clean_up_drill(aws.clients, cfg)
    sm = aws.admin.sagemaker   # the checks: the harness's, outside the deployer
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert aws.admin.cloudwatch.describe_alarms(AlarmNamePrefix="paylink-fraud-drill-")["MetricAlarms"] == []
    assert read_history(aws.clients.s3, cfg) == []
