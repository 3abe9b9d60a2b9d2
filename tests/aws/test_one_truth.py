"""One source of truth for what is live (issue 17): every deploy path under the same gate, rollbacks recorded as
rollbacks, champion against live never silent, endpoint ownership, one champion per environment."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from deploy.history import DeployRecord, read_history
from fraudcore.cli import main as fraud
from fraudcore.registry import champion, lookup


def _serving_run(aws) -> str:
    config = aws.clients.sagemaker.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointConfigName"]
    return config.split("-")[-2]


def _use(runs, monkeypatch, aws) -> list[str]:
    """The stub TrainFlow runs, all gate:passed and no champion in any environment; the registry log on S3."""
    root, ids = runs
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(root))
    monkeypatch.setenv("METAFLOW_DEFAULT_METADATA", "local")
    monkeypatch.setenv("METAFLOW_HOME", str(root / "metaflow-home"))
    monkeypatch.delenv("METAFLOW_DEFAULT_DATASTORE", raising=False)
    monkeypatch.setenv(champion.LOG_ENV, f"s3://{aws.cfg.storage.bucket}/metaflow/fraud-registry")
    for rid in ids:
        lookup.tag_gate(rid, passed=True)
        run = lookup.get_run(rid)
        for env in lookup.ENVIRONMENTS:
            if lookup.champion_tag(env) in run.tags:
                run.remove_tag(lookup.champion_tag(env))
    return ids


def test_a_gate_failed_bundle_is_refused_without_force_and_recorded_as_forced_with_it(aws, make_bundle, capsys):
    failed = make_bundle("8801", gate="failed")
    assert fraud(["deploy", "sagemaker", "--bundle", str(failed)]) == 1
    assert "bundle of run '8801': must carry the tag 'gate:passed' to deploy; its gate is 'failed'" in \
        capsys.readouterr().err
    assert fraud(["deploy", "sagemaker", "--bundle", str(failed), "--force"]) == 1
    assert "needs a reason" in capsys.readouterr().err
    assert aws.admin.sagemaker.list_endpoints()["Endpoints"] == []
    assert aws.admin.s3.list_objects_v2(Bucket=aws.cfg.storage.bucket)["KeyCount"] == 0

    aws.queue_answers(failed)
    assert fraud(["deploy", "sagemaker", "--bundle", str(failed), "--force", "--reason", "hotfix, gate known bad"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["forced"], record["gate"], record["source"]) == (True, "failed", "bundle")
    (stored,) = read_history(aws.clients.s3, aws.cfg)
    assert stored.forced and stored.gate == "failed" and stored.reason == "hotfix, gate known bad"
    assert fraud(["deploy", "history"]) == 0
    assert "FORCED past gate failed: hotfix" in capsys.readouterr().out


def test_rollback_is_a_rollback_and_champion_against_live_is_never_silent(aws, make_bundle, runs, monkeypatch,
                                                                          capsys):
    a, b, _ = _use(runs, monkeypatch, aws)
    for rid in (a, b):  # bundles of registered runs: their gate tags decide, and the champion follows
        aws.queue_answers(make_bundle(rid))
        assert fraud(["deploy", "sagemaker", "--bundle", str(make_bundle(rid)), "--reason", f"deploy {rid}"]) == 0
    assert lookup.champion_run_id() == b
    capsys.readouterr()

    aws.queue_answers(make_bundle(a))
    assert fraud(["deploy", "rollback", "--reason", "alert rate doubled"]) == 0
    last = champion.history()[-1]
    assert (last["event"], last["via"], last["from"], last["to"]) == ("rollback", "endpoint", b, a)
    assert "alert rate doubled" in last["reason"]
    assert lookup.champion_run_id() == a == _serving_run(aws)
    capsys.readouterr()

    # Moving the champion alone warns that the endpoint serves another run, and names the fix.
    assert fraud(["models", "promote", b, "--reason", "rethink"]) == 0
    err = capsys.readouterr().err
    assert f"the production champion is now run '{b}', but endpoint 'paylink-fraud' serves run '{a}'" in err
    assert f"fraud deploy sagemaker --run-id {b}" in err and f"fraud models promote {a} --force" in err
    assert fraud(["deploy", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["champion_run_id"], status["live_run_id"], status["champion_is_live"]) == (b, a, False)
    assert status["fix"][0].startswith(f"fraud deploy sagemaker --run-id {b} ")
    assert fraud(["deploy", "status"]) == 0
    assert "champion and live disagree; to fix, run one of:" in capsys.readouterr().out

    assert fraud(["models", "rollback", "--reason", "back to what serves"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert fraud(["deploy", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["champion_is_live"] and "fix" not in status


def test_a_foreign_endpoint_is_refused_unless_adopted_with_a_reason(aws, make_bundle, capsys):
    sm = aws.admin.sagemaker
    sm.create_model(ModelName="other-team-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/other",
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1"})
    sm.create_endpoint_config(EndpointConfigName="other-team-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "other-team-model", "InstanceType": "ml.c5.large",
         "InitialInstanceCount": 2}])
    sm.create_endpoint(EndpointName=aws.cfg.endpoint.name, EndpointConfigName="other-team-config")
    bundle = make_bundle("8901")

    assert fraud(["deploy", "sagemaker", "--bundle", str(bundle)]) == 1
    assert "endpoint 'paylink-fraud' exists but is not ours" in capsys.readouterr().err
    assert fraud(["deploy", "sagemaker", "--bundle", str(bundle), "--adopt"]) == 1
    assert "adopting an endpoint that is not ours needs a reason" in capsys.readouterr().err
    # Nothing of ours was attached to it: no alarms, no autoscaling, no update, no model, no history.
    assert aws.admin.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert aws.admin.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aws.emulator.update_endpoint_calls == [] and len(sm.list_models()["Models"]) == 1
    assert read_history(aws.clients.s3, aws.cfg) == []

    aws.queue_answers(bundle)
    assert fraud(["deploy", "sagemaker", "--bundle", str(bundle), "--adopt", "--reason", "ticket 42: ours now"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["adopted_from"], record["previous_run_id"]) == ("other-team-config", None)
    assert fraud(["deploy", "history"]) == 0
    assert "(adopted from another's config other-team-config)" in capsys.readouterr().out
    arn = sm.describe_endpoint(EndpointName=aws.cfg.endpoint.name)["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert (tags["paylink:owner"], tags["paylink:environment"]) == ("paylink-fraud", "production")

    # A staging config never touches production's endpoint.
    staging = aws.with_config(endpoint={"environment": "staging"})
    from deploy.sagemaker import DeployError, deploy_bundle

    with pytest.raises(DeployError, match="serves environment 'production'.*config is for 'staging'"):
        deploy_bundle(staging.clients, staging.cfg, make_bundle("8902"), reason="wrong env")


def test_the_champion_is_per_environment_and_old_records_read_as_production(aws, runs, monkeypatch):
    a, b, c = _use(runs, monkeypatch, aws)
    champion.event_log().append({"event": "promote", "from": None, "to": a, "seq": 1})  # written before environments
    lookup.get_run(a).add_tag(lookup.CHAMPION)
    champion.promote(b, "try it in staging", environment="staging")
    champion.promote(c, "and then this", environment="staging")
    assert (lookup.champion_run_id(), lookup.champion_run_id("staging")) == (a, c)
    assert (lookup.resolve("champion"), lookup.resolve("champion:staging")) == (a, c)
    assert champion.champion_stack() == [a] and champion.champion_stack(environment="staging") == [b, c]
    assert champion.log_location("staging").endswith("/metaflow/fraud-registry/staging/")
    champion.rollback("staging regression", environment="staging")
    assert (lookup.champion_run_id(), lookup.champion_run_id("staging")) == (a, b)
    with pytest.raises(Exception, match="environment must be one of"):
        lookup.champion_run_id("prod")
    # A deploy record written before ownership, environments and the gate were recorded still reads.
    old = {k: v for k, v in asdict(DeployRecord(
        event="deploy", outcome="live", endpoint_name="e", run_id="1", previous_run_id=None, model_name="m",
        endpoint_config_name="c", previous_endpoint_config_name=None, model_data_url="s3://b/k", at="t", by="u",
        aws_identity="arn", reason="r", forced=False)).items() if k not in ("adopted_from", "environment", "gate")}
    assert DeployRecord(**old).environment == "production" and DeployRecord(**old).adopted_from == ""
