"""Create the weekly chain's state machines, with the deployment's Metaflow metadata, or refuse.

    python -m deploy.schedule --deploy-job-role ARN   # TrainFlow (weekly), EvaluateFlow and DeployFlow

Decision (docs/deployment.md, "Where scheduled runs are recorded"): the registry does **not** work from S3
alone. Metaflow's client finds runs through its metadata provider; with `local` metadata a run on AWS
Batch writes its metadata to the container's own disk, which is gone when the job ends, so a scheduled
TrainFlow run would never show in `fraud models list`, could not be tagged champion and could not be
deployed by run id. The deployment therefore uses Metaflow's metadata service, provisioned by
Metaflow's own CloudFormation stack (its output METAFLOWSERVICEURL is a parameter of
deploy/infra/template.yaml). `step-functions create` bakes the creator's metadata settings into every
Batch job of the state machine, so this command refuses to run unless METAFLOW_DEFAULT_METADATA is
`service` with METAFLOW_SERVICE_URL set and the datastore is S3.

The chain: TrainFlow runs on its weekly schedule (`@schedule` in flows/train.py); the template's
TrainFlowSucceededRule starts EvaluateFlow (challenger=latest, request_approval=true); an approval starts
DeployFlow through ModelApprovedRule. EvaluateFlow and DeployFlow need state machines but no schedule.

Which role each flow's Batch jobs run as: TrainFlow and EvaluateFlow keep Metaflow's default,
METAFLOW_ECS_S3_ACCESS_IAM_ROLE (the template's BatchJobRole, which cannot deploy). DeployFlow runs as the
template's DeployJobRole (output DeployJobRoleArn), given as `--deploy-job-role` or PAYLINK_DEPLOY_JOB_ROLE:
`--with batch:iam_role=ARN` makes `step-functions create` register DeployFlow's job definitions with that
jobRoleArn. Without it this command refuses to create DeployFlow's machine, which would otherwise run as
the Batch job role and fail at its first SageMaker call after every approval.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from fraudcore.errors import FraudError

ROOT = Path(__file__).resolve().parent.parent
# (flow file, has @project: --production names it paylink_fraud.prod.<Flow>)
CHAIN = (("train.py", True), ("evaluate.py", True), ("deploy.py", False))
DEPLOY_FLOW = "deploy.py"
DEPLOY_JOB_ROLE_ENV = "PAYLINK_DEPLOY_JOB_ROLE"
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+.@/-]+")  # no "," or "=": they split `--with` attributes


class ScheduleError(FraudError, RuntimeError):
    """The environment would create state machines whose runs the registry cannot see."""


def check_metadata(env: Mapping[str, str]) -> None:
    """Refuse local metadata or a local datastore: scheduled runs must be visible to `fraud models list`."""
    metadata = env.get("METAFLOW_DEFAULT_METADATA", "")
    if metadata != "service":
        raise ScheduleError(f"METAFLOW_DEFAULT_METADATA must be 'service' to create scheduled flows; got {metadata!r}. "
                            "With local metadata a run on AWS Batch records itself on the job's own disk and "
                            "`fraud models list` never sees it. Set it and METAFLOW_SERVICE_URL (the metadata "
                            "service of Metaflow's stack; docs/deployment.md)")
    if not env.get("METAFLOW_SERVICE_URL", "").startswith(("http://", "https://")):
        raise ScheduleError(f"METAFLOW_SERVICE_URL must be the metadata service's URL; got "
                            f"{env.get('METAFLOW_SERVICE_URL', '')!r}")
    datastore = env.get("METAFLOW_DEFAULT_DATASTORE", "")
    if datastore != "s3":
        raise ScheduleError(f"METAFLOW_DEFAULT_DATASTORE must be 's3' to create scheduled flows; got {datastore!r}")


def check_deploy_job_role(role: str | None, env: Mapping[str, str]) -> str:
    """DeployFlow's Batch job role: an IAM role ARN, and not the Batch job role that training runs as."""
    if not role:
        raise ScheduleError(f"--deploy-job-role (or {DEPLOY_JOB_ROLE_ENV}) is required to create DeployFlow's state "
                            "machine; got none. Without it DeployFlow's Batch jobs run as the Batch job role "
                            "(METAFLOW_ECS_S3_ACCESS_IAM_ROLE), which has no SageMaker permissions, and every "
                            "approved model would fail to deploy. Use the stack's output DeployJobRoleArn "
                            "(docs/deployment.md)")
    if not ROLE_ARN.fullmatch(role):
        raise ScheduleError(f"--deploy-job-role must be an IAM role ARN (arn:aws:iam::<account>:role/<name>); "
                            f"got {role!r}")
    if role == env.get("METAFLOW_ECS_S3_ACCESS_IAM_ROLE"):
        raise ScheduleError(f"--deploy-job-role must not be the Batch job role METAFLOW_ECS_S3_ACCESS_IAM_ROLE; "
                            f"got {role!r} for both. Training jobs must not be able to deploy: use the stack's "
                            "output DeployJobRoleArn")
    return role


def commands(python: str = sys.executable, production: bool = True, only: tuple[str, ...] = (),
             deploy_job_role: str | None = None) -> list[list[str]]:
    """The `step-functions create` command of each flow in the chain (or of the flow files in `only`).

    DeployFlow's jobs run as `deploy_job_role` (required when deploy.py is among them); the others as
    Metaflow's default Batch job role.
    """
    out = []
    for flow, has_project in CHAIN:
        if only and flow not in only:
            continue
        batch = "batch"
        if flow == DEPLOY_FLOW:
            if not deploy_job_role:
                raise ScheduleError(f"{DEPLOY_FLOW} needs a deploy job role (--deploy-job-role or "
                                    f"{DEPLOY_JOB_ROLE_ENV}); got none")
            batch = f"batch:iam_role={deploy_job_role}"
        cmd = [python, str(ROOT / "flows" / flow), "--no-pylint", "--with", batch]
        if production and has_project:
            cmd.append("--production")
        out.append([*cmd, "step-functions", "create"])
    return out


def create_chain(env: Mapping[str, str], *, production: bool = True, cwd: Path | None = None,
                 only: tuple[str, ...] = (), deploy_job_role: str | None = None) -> list[str]:
    """Check the metadata settings and DeployFlow's job role, then create every state machine; return the
    flow files. `deploy_job_role` defaults to PAYLINK_DEPLOY_JOB_ROLE in `env`."""
    check_metadata(env)
    role = None
    if not only or DEPLOY_FLOW in only:
        role = check_deploy_job_role(deploy_job_role or env.get(DEPLOY_JOB_ROLE_ENV), env)
    created = []
    for cmd in commands(production=production, only=only, deploy_job_role=role):
        proc = subprocess.run(cmd, env=dict(env), cwd=cwd or ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ScheduleError(f"{' '.join(cmd[1:3])} step-functions create failed (exit {proc.returncode}):\n"
                                f"{proc.stderr[-2000:]}")
        created.append(cmd[1])
    return created


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m deploy.schedule", description=__doc__.split("\n\n")[0])
    p.add_argument("--no-production", action="store_true", help="name the machines for your user (testing)")
    p.add_argument("--deploy-job-role", metavar="ARN", default=None,
                   help=f"the IAM role DeployFlow's Batch jobs run as (the stack's output DeployJobRoleArn); "
                        f"default ${DEPLOY_JOB_ROLE_ENV}; required")
    args = p.parse_args(argv)
    try:
        for flow in create_chain(os.environ, production=not args.no_production,
                                 deploy_job_role=args.deploy_job_role):
            print(f"created the state machine of {flow}")
    except ScheduleError as err:
        print(f"schedule: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
