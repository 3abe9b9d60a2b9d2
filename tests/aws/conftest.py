"""Fixtures for the AWS path: one emulator per session, reset before each test that uses `aws`.

Credentials: the code under test signs as the deployer by default (`AWS_ACCESS_KEY_ID` is the deployer's key in
tests/aws/iam_audit.py); flows run as the role they run as on AWS (the Batch job role, the schedule creator).
The tests' own setup and checks use `Aws.admin`, signed with the harness key, which the IAM audit never judges.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from aws.emulator import Emulator, start_emulator
from aws.iam_audit import ROLE_KEYS, harness_session

from deploy.config import DeployConfig, load_deploy_config
from deploy.sagemaker import AwsClients
from deploy.smoke import expected_answers, smoke_requests
from fraudcore.bundle import BundleRecord, ModelParts, load_bundle, write_bundle

STUB_FLOW = Path(__file__).with_name("stub_trainflow.py")
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ROLE_KEYS["deployer"],
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "METAFLOW_USER": "paylink-dev",
}
UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SECURITY_TOKEN")


@pytest.fixture(scope="session")
def aws_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """moto's server on a free loopback port, with dummy credentials and AWS_ENDPOINT_URL set."""
    mp = pytest.MonkeyPatch()
    for key, value in FAKE_AWS_ENV.items():
        mp.setenv(key, value)
    for key in UNSET:
        mp.delenv(key, raising=False)
    empty = tmp_path_factory.mktemp("aws-config") / "empty"
    empty.write_text("")
    mp.setenv("AWS_CONFIG_FILE", str(empty))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    with start_emulator() as emulator:
        mp.setenv("AWS_ENDPOINT_URL", emulator.url)
        yield emulator
    mp.undo()


@dataclass
class Aws:
    emulator: Emulator
    cfg: DeployConfig
    clients: AwsClients  # the deployer's (what `fraud deploy` and DeployFlow use)
    admin: AwsClients  # the harness's: setting up and checking, outside any role

    def with_config(self, **overrides: Any) -> Aws:
        """The same emulator with another deploy config (nested overrides, as load_deploy_config takes)."""
        cfg = load_deploy_config(overrides={"rollout": {"waiter_delay_seconds": 1, "waiter_max_attempts": 5},
                                            **overrides})
        return Aws(self.emulator, cfg, AwsClients.create(cfg), AwsClients.create(cfg, harness_session(cfg.region)))

    def queue_answers(self, bundle_dir: Path, live_only: bool = False, **change: Any) -> None:
        """Queue, for the next smoke test, what an endpoint serving `bundle_dir` would answer.

        moto has no container behind an endpoint: the answers come from the bundle itself (the same
        scoring code the container runs), optionally with fields changed to play a broken server.
        """
        bundle = load_bundle(bundle_dir)
        requests = smoke_requests(bundle.schema, self.cfg.rollout.smoke_requests)
        def bodies(**changed: Any) -> list[str]:
            return [json.dumps({"request_id": f"r{i}", "model_version": bundle.version, "score": score,
                                "decision": decision, "reasons": [], **changed})
                    for i, (score, decision) in enumerate(expected_answers(bundle, requests))]

        # Twice: the preflight endpoint's smoke test, then the live endpoint's after the rollout
        # (`live_only`: the preflight container answers right, the live endpoint as changed).
        first = bodies() if live_only else bodies(**change)
        self.emulator.queue_invoke_results(first + bodies(**change), variant=self.cfg.endpoint.variant_name)


def push_serving_image(clients: AwsClients, cfg: DeployConfig) -> str:
    """The serving image `model.image_uri` names, pushed to the emulator's ECR; returns its digest."""
    repo, _, tag = cfg.model.image_uri.split("/", 1)[1].partition(":")
    clients.ecr.create_repository(repositoryName=repo)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + "c" * 64, "size": 1,
                           "mediaType": "application/vnd.docker.container.image.v1+json"}, "layers": []}
    clients.ecr.put_image(repositoryName=repo, imageManifest=json.dumps(manifest), imageTag=tag)
    return clients.ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"][0][
        "imageDigest"]


@pytest.fixture
def aws(aws_emulator: Emulator) -> Aws:
    """A clean emulator with the artifact bucket created, the default deploy config and boto3 clients."""
    aws_emulator.reset()
    cfg = load_deploy_config(overrides={"rollout": {"waiter_delay_seconds": 1, "waiter_max_attempts": 5}})
    clients, admin = AwsClients.create(cfg), AwsClients.create(cfg, harness_session(cfg.region))
    admin.s3.create_bucket(Bucket=cfg.storage.bucket)
    push_serving_image(admin, cfg)
    return Aws(aws_emulator, cfg, clients, admin)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> tuple[Path, list[str]]:
    """Three finished TrainFlow runs in a throwaway local datastore (metadata stays local; the log is on S3)."""
    from metaflow import Runner

    root = tmp_path_factory.mktemp("registry-s3")
    (root / ".metaflow").mkdir()
    env = {"METAFLOW_DATASTORE_SYSROOT_LOCAL": str(root), "METAFLOW_DEFAULT_METADATA": "local",
           "METAFLOW_DEFAULT_DATASTORE": "local", "METAFLOW_HOME": str(root / "metaflow-home"),
           "METAFLOW_USER": "paylink-dev"}
    ids = []
    for _ in range(3):
        with Runner(str(STUB_FLOW), show_output=False, env=env, cwd=str(root), pylint=False).run() as running:
            assert running.status == "successful", running.stderr
            ids.append(str(running.run.id))
    return root, ids


@pytest.fixture(scope="session")
def tiny_model() -> dict[str, Any]:
    """A real (tiny) LightGBM model with its fitted pipeline, thresholds and profile (the drill's own)."""
    from deploy.drill import tiny_model as build

    return build(3)


@pytest.fixture
def make_bundle(tiny_model: dict[str, Any], tmp_path: Path) -> Callable[..., Path]:
    """Write a real bundle for `run_id`; `logit_offset` changes its scores (a "different model"); `gate` is the
    gate its metrics record (TrainFlow writes GateResult.to_dict(), whose `passed` decides)."""
    def make(run_id: str, logit_offset: float = 0.0, gate: str = "passed") -> Path:
        m, out = tiny_model, tmp_path / f"bundle-{run_id}-{logit_offset}-{gate}"
        if out.exists():  # the same bundle again (a bundle is written once)
            return out
        return write_bundle(out, ModelParts(m["booster"], m["pipeline"], m["thresholds"], m["schema"], logit_offset),
                            BundleRecord(run_id, m["profile"], metrics={"gate": {"passed": gate == "passed"}}, config={"rounds": 10},
                                         data_fingerprint={"rows": 5000, "seed": 3}))
    return make
