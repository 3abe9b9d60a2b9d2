"""Fixtures for the AWS path: one emulator per session, reset before each test that uses `aws`."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from deploy.config import DeployConfig, load_deploy_config
from deploy.emulator import Emulator, start_emulator
from deploy.sagemaker import AwsClients
from fraudcore.schema import paylink_schema

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
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
    clients: AwsClients

    def queue_scores(self, n: int, score: float = 0.02, decision: str = "approve") -> None:
        bodies = [json.dumps({"request_id": f"r{i}", "score": score, "decision": decision, "reasons": []})
                  for i in range(n)]
        self.emulator.queue_invoke_results(bodies, variant=self.cfg.endpoint.variant_name)


@pytest.fixture
def aws(aws_emulator: Emulator) -> Aws:
    """A clean emulator with the artifact bucket created, the default deploy config and boto3 clients."""
    aws_emulator.reset()
    cfg = load_deploy_config(overrides={"rollout": {"waiter_delay_seconds": 1, "waiter_max_attempts": 5}})
    clients = AwsClients.create(cfg)
    clients.s3.create_bucket(Bucket=cfg.storage.bucket)
    return Aws(aws_emulator, cfg, clients)


def write_bundle(root: Path, run_id: str, model_text: str = "tree\n") -> Path:
    """A bundle directory laid out as docs/contracts.md describes, with a correct manifest."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "model.txt": model_text,
        "pipeline.json": json.dumps({"fitted": True}),
        "thresholds.json": json.dumps({"review": 0.3, "decline": 0.8, "precision_floor": 0.2}),
        "schema.json": paylink_schema().to_json(),
        "reference_profile.json": json.dumps({"features": {}}),
        "metrics.json": json.dumps({"gate": "passed"}),
        "config.json": json.dumps({"seed": 7}),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    manifest = {"format_version": 1, "run_id": run_id, "flow": "TrainFlow",
                "files": {n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in files}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def make_bundle(tmp_path: Path):
    def make(run_id: str, model_text: str | None = None) -> Path:
        return write_bundle(tmp_path / f"bundle-{run_id}", run_id, model_text or f"tree for {run_id}\n")
    return make
