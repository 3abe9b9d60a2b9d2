"""DeployFlow: put a TrainFlow run live and make it the champion (docs/aws-notes.md).

    python flows/deploy.py run                                  # latest run tagged gate:passed
    python flows/deploy.py run --train_run R --target sagemaker    # blue/green canary to the endpoint
    python flows/deploy.py run --train_run R --force --reason WHY  # a run that failed its gate
    python flows/deploy.py run --train_run OLDER --reason WHY      # go back to an older version

Steps: resolve and check the run, fetch its bundle, verify, package (and stage on SageMaker), deploy,
smoke test, move the champion tag. `target=local` stops at a verified model.tar.gz and an in-process
smoke test; `fraud serve --model champion` then serves it. The logic lives in `deploy/`.
"""
import os
import sys
import tempfile
from pathlib import Path

from metaflow import Config, FlowSpec, Parameter, card, current, step

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # deploy/ and fraudcore/ when run from a plain checkout
TARGETS = ("sagemaker", "local")


class DeployFlow(FlowSpec):
    """Put a TrainFlow run live and make it the champion: resolve and check the run, fetch and verify its
    bundle, package it, deploy it (blue/green canary on SageMaker, or a local model.tar.gz), smoke test it,
    and move the champion tag."""

    settings = Config("settings", default=str(ROOT / "config" / "deploy.toml"),
                      parser="deploy.config.parse_deploy_toml", help="deploy config (TOML); keys: deploy/config.py")
    # Metaflow reserves the parameter name "run_id", hence "train_run".
    train_run = Parameter("train_run", default="", help="TrainFlow run id; empty: the latest run tagged gate:passed")
    target = Parameter("target", default="sagemaker", help="sagemaker | local")
    force = Parameter("force", default=False, type=bool, help="deploy a run that did not pass its gate")
    reason = Parameter("reason", default="", help="why (recorded; required with --force)")
    local_dir = Parameter("local_dir", default=str(ROOT / "artifacts" / "deploy"),
                          help="target=local: where model.tar.gz is written")

    def _aws(self):
        from deploy.config import DeployConfig
        from deploy.sagemaker import AwsClients

        cfg = DeployConfig.from_dict(self.settings.to_dict())
        return cfg, AwsClients.create(cfg)

    def _bundle_dir(self, tmp):
        from deploy.bundle import verify_bundle
        from deploy.runs import write_bundle_files

        return verify_bundle(write_bundle_files(self.bundle_files, Path(tmp) / "bundle"))

    @step
    def start(self):
        """Resolve the run (default: the newest tagged gate:passed) and refuse it unless it may be deployed."""
        from deploy.runs import check_deployable, resolve_run

        if self.target not in TARGETS:
            raise ValueError(f"parameter 'target' must be one of {TARGETS}; got {self.target!r}")
        info = resolve_run(self.train_run or None)
        self.forced = check_deployable(info, force=self.force, reason=self.reason)
        self.train_run_id, self.gate = info.run_id, info.gate
        self.why = self.reason or f"deploy of {info.run_id} (gate {info.gate})"
        print(f"deploying TrainFlow/{info.run_id} (gate {info.gate}{', FORCED' if self.forced else ''}) "
              f"to {self.target}: {self.why}")
        self.next(self.fetch)

    @step
    def fetch(self):
        """Copy the run's bundle files out of its artifacts."""
        from deploy.runs import fetch_bundle_files

        self.bundle_files = fetch_bundle_files(self.train_run_id)
        self.next(self.verify)

    @step
    def verify(self):
        """Check the bundle's checksums and that its manifest names the run it came from."""
        with tempfile.TemporaryDirectory() as tmp:
            bundle = self._bundle_dir(tmp)
        if bundle.run_id != self.train_run_id:
            raise ValueError(f"bundle manifest 'run_id' must be the run it came from ({self.train_run_id!r}); "
                             f"got {bundle.run_id!r}")
        self.manifest = bundle.manifest
        self.next(self.package)

    @step
    def package(self):
        """Write model.tar.gz: locally, or to S3 as a SageMaker model."""
        from dataclasses import asdict

        from deploy.bundle import package_model

        with tempfile.TemporaryDirectory() as tmp:
            bundle = self._bundle_dir(tmp)
            if self.target == "local":
                out = Path(self.local_dir) / self.train_run_id
                out.mkdir(parents=True, exist_ok=True)
                path, sha256 = package_model(bundle, out / "model.tar.gz")
                self.staged = {"run_id": self.train_run_id, "model_data_url": str(path), "archive_sha256": sha256}
            else:
                from deploy.sagemaker import stage_model

                cfg, clients = self._aws()
                self.staged = asdict(stage_model(clients, cfg, bundle.path))
        self.next(self.deploy)

    @step
    def deploy(self):
        """On SageMaker, start the blue/green canary update of the endpoint; remember the previous champion."""
        from dataclasses import asdict

        from deploy.runs import registry

        self.previous_champion = registry.champion_run_id()
        self.rollout = None
        if self.target == "sagemaker":
            from deploy.sagemaker import StagedModel, roll_out

            cfg, clients = self._aws()
            self.rollout = asdict(roll_out(clients, cfg, StagedModel(**self.staged)))
        self.next(self.smoke)

    @step
    def smoke(self):
        """Send smoke requests and compare the answers with the bundle's own scores; on SageMaker, finish
        (or roll back) the rollout and record it in the deploy history."""
        from dataclasses import asdict

        from deploy.bundle import expected_answers, schema_of
        from deploy.sagemaker import smoke_requests

        self.history, self.record = [], None
        with tempfile.TemporaryDirectory() as tmp:
            bundle = self._bundle_dir(tmp)
            if self.target == "local":
                requests = smoke_requests(schema_of(bundle), 3)
                self.smoke_answers = [{"model_version": bundle.run_id, "score": s, "decision": d}
                                      for s, d in expected_answers(bundle, requests)]
            else:
                from deploy.history import read_history
                from deploy.sagemaker import RolloutResult, StagedModel, finish_rollout

                cfg, clients = self._aws()
                result = finish_rollout(clients, cfg, bundle, StagedModel(**self.staged),
                                        RolloutResult(**self.rollout), reason=self.why, forced=self.forced)
                self.smoke_answers, self.record = result.smoke.responses, asdict(result.record)
                self.history = [asdict(r) for r in read_history(clients.s3, cfg)]
        self.next(self.champion)

    @step
    def champion(self):
        """Move the champion tag to the deployed run (recorded in the registry log)."""
        from deploy.runs import move_champion

        self.champion_event = move_champion(self.train_run_id, self.why, self.forced)
        self.next(self.end)

    @card(type="blank", id="deploy")
    @step
    def end(self):
        """Draw the deploy card: what is live, what it replaced, the rollout and the smoke answers."""
        from deploy.card import deploy_card

        record, rollout = self.record or {}, self.rollout or {}
        replaced = {"run_id": (rollout.get("previous_run_id") if self.target == "sagemaker"
                               else self.previous_champion),
                    "endpoint_config_name": rollout.get("previous_endpoint_config_name")}
        summary = {"target": self.target, "gate": self.gate, "forced": self.forced, "reason": self.why,
                   "by": record.get("by", os.environ.get("METAFLOW_USER")), "at": record.get("at"),
                   "live": dict(self.staged), "replaced": replaced, "rollout": rollout,
                   "smoke": self.smoke_answers, "history": self.history, "champion_event": self.champion_event}
        for component in deploy_card(summary):
            current.card["deploy"].append(component)
        print(f"TrainFlow/{self.train_run_id} is live on {self.target} and is the champion "
              f"(replaced {replaced['run_id']})")


if __name__ == "__main__":
    DeployFlow()
