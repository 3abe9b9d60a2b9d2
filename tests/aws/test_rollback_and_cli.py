"""Rollback through the history, and the `fraud deploy` command group, against the emulator."""
from __future__ import annotations

import json

import pytest

from deploy.history import HistoryError, read_history
from deploy.sagemaker import DeployError, deploy_bundle, rollback
from fraudcore.cli import main as fraud
from fraudcore.config_loader import CONFIG_DIR


def _serving(aws) -> str:
    return aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointConfigName"]


def _deploy(aws, bundle, reason):
    aws.queue_answers(bundle)
    return deploy_bundle(aws.clients, aws.cfg, bundle, reason=reason)


def test_rollback_walks_back_through_live_runs(aws, make_bundle):
    a, b, c = (_deploy(aws, make_bundle(r), f"deploy {r}") for r in ("11", "12", "13"))
    assert _serving(aws) == c.staged.endpoint_config_name

    aws.queue_answers(make_bundle("12"))  # the smoke test after a rollback checks the restored model
    first = rollback(aws.clients, aws.cfg, reason="alert rate doubled")
    assert (first.run_id, first.previous_run_id, first.reason) == ("12", "13", "alert rate doubled")
    assert _serving(aws) == b.staged.endpoint_config_name
    aws.queue_answers(make_bundle("12"))  # ...and catches a fleet still answering for the wrong model
    with pytest.raises(DeployError, match=r"now serves run '11', but the smoke test failed after the rollback: "
                                          r".*model_version '12'; expected run '11'"):
        rollback(aws.clients, aws.cfg, reason="still bad")
    second = read_history(aws.clients.s3, aws.cfg)[-1]
    assert (second.run_id, second.previous_run_id) == ("11", "12") and "smoke test failed" in second.detail
    assert _serving(aws) == a.staged.endpoint_config_name
    with pytest.raises(HistoryError, match=r"nothing to roll back to.*live run: '11'"):
        rollback(aws.clients, aws.cfg, reason="again")

    # A rollback re-uses the run's existing config, all at once, without the (probably firing) alarms.
    last_call = aws.emulator.update_endpoint_calls[-1]
    assert last_call.endpoint_config_name == a.staged.endpoint_config_name
    assert last_call.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert "AutoRollbackConfiguration" not in last_call.deployment_config
    assert len(aws.admin.sagemaker.list_models()["Models"]) == 3
    events = [(r.event, r.run_id) for r in read_history(aws.clients.s3, aws.cfg)]
    assert events == [("deploy", "11"), ("deploy", "12"), ("deploy", "13"), ("rollback", "12"), ("rollback", "11")]


def test_cli_deploy_status_history_rollback(aws, make_bundle, capsys):
    for run, extra in (("21", ["--reason", "initial"]), ("22", [])):
        aws.queue_answers(make_bundle(run))
        assert fraud(["deploy", "sagemaker", "--bundle", str(make_bundle(run)), *extra]) == 0
        assert json.loads(capsys.readouterr().out)["run_id"] == run
    capsys.readouterr()

    assert fraud(["deploy", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["run_id"], status["history_live_run_id"], status["endpoint_status"]) == ("22", "22", "InService")
    assert status["variants"] == [{"VariantName": "AllTraffic", "CurrentInstanceCount": 2, "DesiredInstanceCount": 2}]

    aws.queue_answers(make_bundle("21"))
    assert fraud(["deploy", "rollback", "--reason", "latency regression"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "21"
    assert fraud(["deploy", "history"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "rollback" in lines[2] and "latency regression" in lines[2]
    assert fraud(["deploy", "history", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["21", "22", "21"]


def test_cli_refusals_are_clear_and_change_nothing(aws, make_bundle, tmp_path, capsys, monkeypatch):
    aws.queue_answers(make_bundle("31"))
    assert fraud(["deploy", "sagemaker", "--bundle", str(make_bundle("31"))]) == 0
    capsys.readouterr()
    before = aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)

    assert fraud(["deploy", "sagemaker", "--bundle", str(tmp_path / "nowhere")]) == 1
    assert "does not exist or is not a directory" in capsys.readouterr().err

    (tmp_path / "mf" / ".metaflow").mkdir(parents=True)  # a datastore with no TrainFlow runs in it
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "mf"))
    monkeypatch.setenv("METAFLOW_DEFAULT_METADATA", "local")
    assert fraud(["deploy", "sagemaker", "--run-id", "999999"]) == 1
    assert "run id '999999': cannot be resolved: no TrainFlow runs in metadata local@" in capsys.readouterr().err

    assert fraud(["deploy", "rollback"]) == 1
    assert "nothing to roll back to" in capsys.readouterr().err
    assert fraud(["deploy", "sagemaker"]) == 2
    bad = tmp_path / "deploy.toml"
    bad.write_text((CONFIG_DIR / "deploy.toml").read_text().replace("image_uri =", "image ="))
    assert fraud(["deploy", "--config", str(bad), "status"]) == 2
    assert f"fraud deploy: {bad}: unknown config key 'model.image'" in capsys.readouterr().err

    after = aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert after["LastModifiedTime"] == before["LastModifiedTime"]
    assert aws.emulator.update_endpoint_calls == []
    assert len(read_history(aws.clients.s3, aws.cfg)) == 1
