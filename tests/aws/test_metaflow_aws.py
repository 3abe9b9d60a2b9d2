"""Metaflow on the AWS emulator: TrainFlow on an S3 datastore, DeployFlow to SageMaker, and the weekly
Step Functions schedule. These run real flows as subprocesses (marked slow).

One TrainFlow run (tiny data, one tuning trial, a gate lowered so it passes) is shared by the module;
its S3 datastore lives in the emulator, so this module resets the emulator once, not per test.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from aws.iam_audit import ROLE_KEYS, harness_session
from aws.conftest import push_serving_image
from deploy.config import DeployConfig, load_deploy_config
from deploy.history import read_history
from deploy.sagemaker import AwsClients
from fraudcore.bundle import load_bundle

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
TIMEOUT = 300
# Per-run TrainFlow settings for a fast test: one small study, and a gate any model passes.
TEST_TRAIN_OVERRIDES = """
[data]
months_per_branch = 18

[tuning]
branches = 1
trials_per_branch = 1
max_rounds = 40
early_stopping_rounds = 10

[gate]
min_pr_auc = 0.0
min_recall_at_precision = 0.0
"""


@dataclass
class MetaflowAws:
    env: dict[str, str]
    root: Path
    cfg: DeployConfig
    clients: AwsClients
    train_run_id: str

    def as_role(self, role: str) -> MetaflowAws:
        """The same setup, signing as `role` (tests/aws/iam_audit.py ROLE_KEYS): a flow as it runs on Batch."""
        return MetaflowAws({**self.env, "AWS_ACCESS_KEY_ID": ROLE_KEYS[role]}, self.root, self.cfg, self.clients,
                           self.train_run_id)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([PY, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


def _train_config(root: Path) -> Path:
    text = (ROOT / "config" / "train.toml").read_text()
    for table in ("[data]", "[tuning]", "[gate]"):
        assert table not in text, f"config/train.toml now has {table}: merge TEST_TRAIN_OVERRIDES into it"
    path = root / "train-test.toml"
    path.write_text(text + TEST_TRAIN_OVERRIDES)
    return path


@pytest.fixture(scope="module")
def mf(aws_emulator, tmp_path_factory) -> MetaflowAws:
    aws_emulator.reset()
    root = tmp_path_factory.mktemp("metaflow-aws")
    cfg = load_deploy_config(overrides={"rollout": {"waiter_delay_seconds": 1, "waiter_max_attempts": 5}})
    clients = AwsClients.create(cfg, harness_session(cfg.region))  # the tests' checks; flows sign as their roles
    clients.s3.create_bucket(Bucket=cfg.storage.bucket)
    push_serving_image(clients, cfg)
    env = {**os.environ,
           "AWS_ACCESS_KEY_ID": ROLE_KEYS["deployer"],  # DeployFlow and fraud deploy
           "METAFLOW_USER": "paylink-dev",
           "METAFLOW_HOME": str(root / "metaflow-home"),  # no user-level Metaflow config
           "METAFLOW_S3_ENDPOINT_URL": aws_emulator.url,
           "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{cfg.storage.bucket}/metaflow",
           "METAFLOW_DEFAULT_METADATA": "local",
           "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(root),
           "FRAUD_REGISTRY_LOG": str(root / "registry.jsonl")}
    probe = MetaflowAws(env, root, cfg, clients, "").as_role("batch-job")  # TrainFlow as on Batch
    out = probe.run(str(ROOT / "flows" / "train.py"), "--no-pylint", "--datastore=s3",
                    "--config", "config", str(_train_config(root)), "run", "--rows", "10000", "--trials", "1")
    match = re.search(r"\[(\d+)/start/", out.stdout + out.stderr)
    assert match, out.stderr[-2000:]
    return MetaflowAws(env, root, cfg, clients, match.group(1))


def _client_env(mf: MetaflowAws, monkeypatch) -> None:
    for key in ("METAFLOW_S3_ENDPOINT_URL", "METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_DEFAULT_METADATA",
                "METAFLOW_DATASTORE_SYSROOT_LOCAL", "FRAUD_REGISTRY_LOG"):
        monkeypatch.setenv(key, mf.env[key])


def test_trainflow_on_the_s3_datastore_and_bundle_read_back(mf, monkeypatch, tmp_path):
    """The run's artifacts are in the emulator's S3, and the client reads a bundle that verifies."""
    keys = mf.clients.s3.list_objects_v2(Bucket=mf.cfg.storage.bucket, Prefix="metaflow/TrainFlow/")["KeyCount"]
    assert keys > 0
    _client_env(mf, monkeypatch)
    script = ("import sys, metaflow; metaflow.namespace(None); "
              "from fraudcore.registry.store import bundle_files, write_bundle_files; "
              f"write_bundle_files(bundle_files({mf.train_run_id!r}), sys.argv[1]); "
              f"print(metaflow.Flow('TrainFlow')[{mf.train_run_id!r}]['end'].task.metadata_dict.get('ds-type'))")
    out = subprocess.run([PY, "-c", script, str(tmp_path / "bundle")], env=mf.env, capture_output=True, text=True,
                         timeout=TIMEOUT, cwd=mf.root)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "s3"
    bundle = load_bundle(tmp_path / "bundle")
    assert bundle.version == mf.train_run_id


def test_deployflow_puts_the_latest_passed_run_live(mf, aws_emulator, monkeypatch):
    """No run id given: DeployFlow picks the gate:passed run, deploys it and tags it champion."""
    from deploy.smoke import expected_answers, smoke_requests
    from fraudcore.registry.store import bundle_files, write_bundle_files

    # What the endpoint's container would answer (moto has none): the bundle's own scores.
    _client_env(mf, monkeypatch)
    bundle = load_bundle(write_bundle_files(bundle_files(mf.train_run_id), mf.root / "expected-bundle"))
    answers = expected_answers(bundle, smoke_requests(bundle.schema, mf.cfg.rollout.smoke_requests))
    aws_emulator.queue_invoke_results([json.dumps({"model_version": mf.train_run_id, "score": s, "decision": d})
                                       for s, d in answers])

    # With the S3 datastore, as a deployment runs it: DeployFlow's run data and card go under metaflow/. It signs
    # as the deploy job role, the role its Batch jobs run as when an approval starts it, so the IAM audit
    # judges every call it makes against deploy/iam/deploy-job-policy.json.
    out = mf.as_role("deploy-job").run(
        str(ROOT / "flows" / "deploy.py"), "--no-pylint", "--datastore=s3", "--config", "settings",
        str(_fast_deploy_config(mf.root)), "run", "--reason", "first model on the endpoint")
    assert f"TrainFlow/{mf.train_run_id} is live on sagemaker and is the champion" in out.stdout + out.stderr
    endpoint = mf.clients.sagemaker.describe_endpoint(EndpointName=mf.cfg.endpoint.name)
    assert mf.train_run_id in endpoint["EndpointConfigName"]
    (record,) = read_history(mf.clients.s3, mf.cfg)
    assert (record.run_id, record.outcome, record.reason) == (mf.train_run_id, "live", "first model on the endpoint")
    events = [json.loads(line) for line in (mf.root / "registry.jsonl").read_text().splitlines()]
    assert events[-1]["to"] == mf.train_run_id and events[-1]["event"] == "promote"

    deploy_run = re.search(r"\[(\d+)/start/", out.stdout + out.stderr).group(1)
    card = mf.root / "card.html"
    mf.run(str(ROOT / "flows" / "deploy.py"), "--no-pylint", "--datastore=s3", "card", "get", f"{deploy_run}/end",
           str(card), "--id", "deploy")
    # The card embeds its components as base64 JSON.
    (data,) = re.findall(r'__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"', card.read_text())
    components = base64.b64decode(data).decode()
    assert f"run `{mf.train_run_id}` is live" in components
    assert "What went live, and what it replaced" in components and "Rollout: created" in components


def _fast_deploy_config(root: Path) -> Path:
    path = root / "deploy-test.toml"
    path.write_text((ROOT / "config" / "deploy.toml").read_text()
                    .replace("waiter_delay_seconds = 30", "waiter_delay_seconds = 1"))
    return path


def test_deployflow_refuses_a_failed_gate_and_changes_nothing(mf, monkeypatch):
    from fraudcore.registry import lookup

    _client_env(mf, monkeypatch)
    lookup.tag_gate(mf.train_run_id, passed=False)  # the run's gate result, as TrainFlow records it
    try:
        before = mf.clients.sagemaker.describe_endpoint(EndpointName=mf.cfg.endpoint.name)
        out = mf.run(str(ROOT / "flows" / "deploy.py"), "--no-pylint", "--config", "settings",
                     str(_fast_deploy_config(mf.root)), "run", "--train_run", mf.train_run_id, check=False)
        assert out.returncode != 0
        assert (f"run id '{mf.train_run_id}': must carry the tag 'gate:passed' to deploy; its gate is 'failed'"
                in out.stdout + out.stderr)
        bad = mf.run(str(ROOT / "flows" / "deploy.py"), "--no-pylint", "run", "--train_run", "12345", check=False)
        assert bad.returncode != 0 and "run id '12345': no TrainFlow run with that id" in bad.stdout + bad.stderr
        after = mf.clients.sagemaker.describe_endpoint(EndpointName=mf.cfg.endpoint.name)
        assert after["EndpointConfigName"] == before["EndpointConfigName"]
        assert after["LastModifiedTime"] == before["LastModifiedTime"]
        assert len(read_history(mf.clients.s3, mf.cfg)) == 1
    finally:
        lookup.tag_gate(mf.train_run_id, passed=True)


def test_weekly_retraining_on_step_functions(mf):
    """`train.py --with batch step-functions create` makes the state machine and the weekly EventBridge rule;
    `monitor.py` the daily one. Both are created by the schedule creator's key (deploy/iam/schedule-creator-policy.json)."""
    session = harness_session(mf.cfg.region)
    ec2, batch = session.client("ec2"), session.client("batch")
    iam = session.client("iam")
    service_role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch-instance")["InstanceProfile"]["Arn"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="metaflow-cpu", type="MANAGED", state="ENABLED", serviceRole=service_role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["c5.large"],
                          "subnets": [subnet], "securityGroupIds": [group], "instanceRole": profile})
    queue = batch.create_job_queue(jobQueueName="metaflow-queue", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])
    account = "123456789012"
    env = {**mf.env, "AWS_ACCESS_KEY_ID": ROLE_KEYS["schedule-creator"],
           "METAFLOW_DEFAULT_DATASTORE": "s3", "METAFLOW_BATCH_JOB_QUEUE": queue["jobQueueName"],
           "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": f"arn:aws:iam::{account}:role/paylink-fraud-batch-job",
           "METAFLOW_SFN_IAM_ROLE": f"arn:aws:iam::{account}:role/paylink-fraud-step-functions",
           "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": f"arn:aws:iam::{account}:role/paylink-fraud-eventbridge",
           "METAFLOW_SFN_DYNAMO_DB_TABLE": "metaflow-sfn-state"}
    proc = subprocess.run([PY, str(ROOT / "flows" / "train.py"), "--no-pylint", "--with", "batch",
                           "step-functions", "create"], cwd=mf.root, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]

    sfn, events = session.client("stepfunctions"), session.client("events")
    name = "paylink_fraud.user.paylink-dev.TrainFlow"
    (machine,) = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name]
    described = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert described["roleArn"] == env["METAFLOW_SFN_IAM_ROLE"]
    states = json.loads(described["definition"])["States"]
    assert states["start"]["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    assert states["start"]["Parameters"]["JobQueue"] == "metaflow-queue"
    job_definition = batch.describe_job_definitions(
        jobDefinitions=[states["start"]["Parameters"]["JobDefinition"]])["jobDefinitions"][0]
    assert job_definition["containerProperties"]["jobRoleArn"] == env["METAFLOW_ECS_S3_ACCESS_IAM_ROLE"]
    rule = events.describe_rule(Name=name)
    assert rule["ScheduleExpression"] == "cron(0 0 ? * SUN *)" and rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
    assert target["Arn"] == machine["stateMachineArn"]
    assert target["RoleArn"] == env["METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE"]

    proc = subprocess.run([PY, str(ROOT / "flows" / "monitor.py"), "--no-pylint", "--with", "batch",
                           "step-functions", "create"], cwd=mf.root, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    monitor = "paylink_fraud.user.paylink-dev.MonitorFlow"
    (target,) = events.list_targets_by_rule(Rule=monitor)["Targets"]
    assert target["Arn"].endswith(f":stateMachine:{monitor}")
    assert events.describe_rule(Name=monitor)["ScheduleExpression"] == "cron(0 0 * * ? *)"


def test_cli_forced_deploy_of_a_failed_run_records_why(mf, aws_emulator, monkeypatch, capsys):
    from deploy.smoke import expected_answers, smoke_requests
    from fraudcore.cli import main as fraud
    from fraudcore.registry import lookup
    from fraudcore.registry.store import bundle_files, write_bundle_files

    _client_env(mf, monkeypatch)
    monkeypatch.setenv("METAFLOW_USER", "paylink-dev")
    config = str(_fast_deploy_config(mf.root))
    bundle = load_bundle(write_bundle_files(bundle_files(mf.train_run_id), mf.root / "cli-bundle"))
    answers = expected_answers(bundle, smoke_requests(bundle.schema, mf.cfg.rollout.smoke_requests))
    aws_emulator.queue_invoke_results([json.dumps({"model_version": mf.train_run_id, "score": s, "decision": d})
                                       for s, d in answers])
    lookup.tag_gate(mf.train_run_id, passed=False)
    try:
        assert fraud(["deploy", "--config", config, "sagemaker", "--run-id", mf.train_run_id]) == 1
        assert "must carry the tag 'gate:passed'" in capsys.readouterr().err
        assert fraud(["deploy", "--config", config, "sagemaker", "--run-id", mf.train_run_id, "--force"]) == 1
        assert "needs a reason" in capsys.readouterr().err
        assert fraud(["deploy", "--config", config, "sagemaker", "--run-id", mf.train_run_id, "--force",
                     "--reason", "hotfix: the failed gate is a known holdout artefact"]) == 0
        record = json.loads(capsys.readouterr().out)
    finally:
        lookup.tag_gate(mf.train_run_id, passed=True)
    assert record["forced"] is True and record["reason"].startswith("hotfix")
    assert record["detail"] == "unchanged"  # the run was already live: no update was sent
    assert read_history(mf.clients.s3, mf.cfg)[-1].forced
