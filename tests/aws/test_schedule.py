"""Where scheduled runs are recorded (issue 17, item 4): the chain's state machines need Metaflow's metadata service."""
from __future__ import annotations

import pytest

from deploy.schedule import ScheduleError, check_metadata, commands, create_chain, main

SERVICE = {"METAFLOW_DEFAULT_METADATA": "service", "METAFLOW_SERVICE_URL": "https://metaflow.example/api",
           "METAFLOW_DEFAULT_DATASTORE": "s3"}
BATCH_JOB_ROLE = "arn:aws:iam::123456789012:role/paylink-fraud-batch-job"
DEPLOY_JOB_ROLE = "arn:aws:iam::123456789012:role/paylink-fraud-deploy-job"


def test_local_metadata_is_refused_before_any_state_machine_is_created():
    with pytest.raises(ScheduleError, match=r"METAFLOW_DEFAULT_METADATA must be 'service'.*got 'local'.*never sees it"):
        check_metadata({**SERVICE, "METAFLOW_DEFAULT_METADATA": "local"})
    with pytest.raises(ScheduleError, match=r"METAFLOW_SERVICE_URL must be the metadata service's URL; got ''"):
        check_metadata({**SERVICE, "METAFLOW_SERVICE_URL": ""})
    with pytest.raises(ScheduleError, match=r"METAFLOW_DEFAULT_DATASTORE must be 's3'.*got 'local'"):
        check_metadata({**SERVICE, "METAFLOW_DEFAULT_DATASTORE": "local"})
    check_metadata(SERVICE)


def test_the_chain_is_train_evaluate_deploy_on_batch():
    cmds = commands(python="python", deploy_job_role=DEPLOY_JOB_ROLE)
    assert [c[1].rsplit("/", 1)[1] for c in cmds] == ["train.py", "evaluate.py", "deploy.py"]
    assert all(c[-2:] == ["step-functions", "create"] for c in cmds)
    assert ["--production" in c for c in cmds] == [True, True, False]  # DeployFlow has no @project
    # Only DeployFlow runs as the deploy job role; training and evaluation keep the Batch job role.
    assert [c[c.index("--with") + 1] for c in cmds] == ["batch", "batch", f"batch:iam_role={DEPLOY_JOB_ROLE}"]
    assert commands(python="python", only=("train.py", "evaluate.py"))  # no DeployFlow: no role needed
    with pytest.raises(ScheduleError, match="deploy.py needs a deploy job role"):
        commands(python="python")


def test_deployflows_machine_is_refused_without_its_own_job_role(monkeypatch, capsys):
    """Refused before any `step-functions create` runs: a DeployFlow on the Batch job role fails after approval."""
    with pytest.raises(ScheduleError, match=r"--deploy-job-role \(or PAYLINK_DEPLOY_JOB_ROLE\) is required.*got none"):
        create_chain(SERVICE)
    with pytest.raises(ScheduleError, match=r"must be an IAM role ARN.*got 'paylink-fraud-deploy-job'"):
        create_chain(SERVICE, deploy_job_role="paylink-fraud-deploy-job")
    with pytest.raises(ScheduleError, match=r"must not be the Batch job role.*Training jobs must not be able to deploy"):
        create_chain({**SERVICE, "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": BATCH_JOB_ROLE,
                      "PAYLINK_DEPLOY_JOB_ROLE": BATCH_JOB_ROLE})
    for key, value in {**SERVICE, "METAFLOW_SERVICE_URL": "http://127.0.0.1:1/api"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PAYLINK_DEPLOY_JOB_ROLE", raising=False)
    assert main([]) != 0
    assert "schedule: --deploy-job-role (or PAYLINK_DEPLOY_JOB_ROLE) is required" in capsys.readouterr().err


def test_the_command_exits_non_zero_with_local_metadata(monkeypatch, capsys):
    monkeypatch.setenv("METAFLOW_DEFAULT_METADATA", "local")
    assert main([]) != 0
    assert "schedule: METAFLOW_DEFAULT_METADATA must be 'service'" in capsys.readouterr().err


@pytest.mark.slow
def test_scheduled_runs_record_their_metadata_in_the_service(aws, tmp_path):
    """The state machine `deploy.schedule` creates tells every Batch task to use the metadata service."""
    import json
    import os

    from aws.iam_audit import ROLE_KEYS, harness_session
    from aws.metadata_ping import metadata_ping
    from deploy.schedule import create_chain

    session = harness_session(aws.cfg.region)   # the Batch queue the stack's admin made, and the checks
    ec2, batch, iam = session.client("ec2"), session.client("batch"), session.client("iam")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch-instance")["InstanceProfile"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="metaflow-cpu", type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["c5.large"],
                          "subnets": [ec2.describe_subnets()["Subnets"][0]["SubnetId"]],
                          "securityGroupIds": [ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]],
                          "instanceRole": profile})
    batch.create_job_queue(jobQueueName="metaflow-queue", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])
    with metadata_ping() as url:
        env = {**os.environ, **SERVICE, "METAFLOW_SERVICE_URL": url, "METAFLOW_USER": "paylink-dev",
               "METAFLOW_HOME": str(tmp_path / "home"), "METAFLOW_S3_ENDPOINT_URL": aws.emulator.url,
               "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{aws.cfg.storage.bucket}/metaflow",
               "METAFLOW_BATCH_JOB_QUEUE": "metaflow-queue",
               "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": "arn:aws:iam::123456789012:role/paylink-fraud-batch-job",
               "METAFLOW_SFN_IAM_ROLE": "arn:aws:iam::123456789012:role/paylink-fraud-step-functions",
               "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": "arn:aws:iam::123456789012:role/paylink-fraud-eventbridge",
               "METAFLOW_SFN_DYNAMO_DB_TABLE": "metaflow-sfn-state",
               "PAYLINK_DEPLOY_JOB_ROLE": "arn:aws:iam::123456789012:role/paylink-fraud-deploy-job",
               "AWS_ACCESS_KEY_ID": ROLE_KEYS["schedule-creator"]}   # `step-functions create` is the schedule creator's
        assert create_chain(env, production=False, cwd=tmp_path, only=("deploy.py",))
    sfn = session.client("stepfunctions")
    (machine,) = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "DeployFlow"]
    states = json.loads(sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"])["States"]
    for name, state in states.items():
        if "Parameters" not in state:
            continue
        task_env = {e["Name"]: e.get("Value") for e in state["Parameters"]["ContainerOverrides"]["Environment"]}
        assert (task_env["METAFLOW_DEFAULT_METADATA"], task_env["METAFLOW_SERVICE_URL"]) == ("service", url), name
        # Every DeployFlow job runs as the deploy job role: its job definition carries it (the schedule creator
        # passed it when registering), and SubmitJob has no field to change it, so Step Functions passes no role.
        (definition,) = batch.describe_job_definitions(jobDefinitions=[state["Parameters"]["JobDefinition"]])[
            "jobDefinitions"]
        assert definition["containerProperties"]["jobRoleArn"] == env["PAYLINK_DEPLOY_JOB_ROLE"], name
        assert not [key for key in _keys(state["Parameters"]) if "role" in key.lower()], name


def _keys(value):
    """Every key of a nested JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)
