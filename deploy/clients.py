"""The boto3 clients the deploy path uses, and its error type.

Clients come from one boto3 session; endpoint URLs come from the environment (AWS_ENDPOINT_URL), so the
same code talks to AWS or to the test emulator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from deploy.config import DeployConfig

from fraudcore.errors import FraudError


class DeployError(FraudError, RuntimeError):
    """A deployment step failed; the message says which step, on what, and what is live now."""


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients deployment uses, from one session (endpoint URLs come from the environment)."""

    sagemaker: Any
    runtime: Any
    s3: Any
    cloudwatch: Any
    autoscaling: Any
    sts: Any
    ecr: Any = None  # the serving image's digest (deploy/image.py)

    @classmethod
    def create(cls, cfg: DeployConfig, session: boto3.Session | None = None,
               client_config: Any = None) -> AwsClients:
        s = session or boto3.Session(region_name=cfg.region)

        def client(name: str) -> Any:
            return s.client(name, region_name=cfg.region, config=client_config)

        return cls(sagemaker=client("sagemaker"), runtime=client("sagemaker-runtime"), s3=client("s3"),
                   cloudwatch=client("cloudwatch"), autoscaling=client("application-autoscaling"),
                   sts=client("sts"), ecr=client("ecr"))
