"""DeployFlow: put a TrainFlow run live and make it the champion (docs/aws-notes.md).

    python flows/deploy.py run                                  # latest run tagged gate:passed
    python flows/deploy.py run --train_run R --target sagemaker    # blue/green canary to the endpoint
    python flows/deploy.py run --train_run R --force --reason WHY  # a run that failed its gate
    python flows/deploy.py run --train_run OLDER --reason WHY      # go back to an older version

Steps: resolve and check the run, fetch its bundle, verify, package (and stage on SageMaker), deploy,
smoke test, move the champion tag. `target=local` stops at a verified model.tar.gz and an in-process
smoke test; `fraud serve --model champion` then serves it. The sequence is `deploy/release.py`, shared
with `fraud deploy sagemaker`; each step calls one or two of its parts.
"""
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
    reason = Parameter("reason", default="", help="why (recorded; required with --force and --adopt)")
    adopt = Parameter("adopt", default=False, type=bool,
                      help="take over an existing endpoint that lacks the project's tag (recorded)")
    local_dir = Parameter("local_dir", default=str(ROOT / "artifacts" / "deploy"),
                          help="target=local: where model.tar.gz is written")

    def _aws(self):
        from deploy.config import DeployConfig
        from deploy.sagemaker import AwsClients

        cfg = DeployConfig.from_dict(self.settings.to_dict())
        return cfg, AwsClients.create(cfg)

    def _release(self):
        from deploy.release import Release

        return Release(**self.release)

    def _bundle(self, tmp):
        from deploy.release import release_bundle

        return release_bundle(self._release(), self.bundle_files, Path(tmp) / "bundle")

    @step
    def start(self):
        """Resolve the run (default: the newest tagged gate:passed) and refuse it unless it may be deployed."""
        from dataclasses import asdict

        from deploy.release import plan_release

        if self.target not in TARGETS:
            raise ValueError(f"parameter 'target' must be one of {TARGETS}; got {self.target!r}")
        release = plan_release(self.train_run or None, force=self.force, reason=self.reason)
        self.release = asdict(release)
        self.adopted_from = ""
        if self.target == "sagemaker":  # the same ownership rule as `fraud deploy`, before anything is changed
            from deploy.sagemaker import Adoption, check_ownership

            cfg, clients = self._aws()
            self.adopted_from = check_ownership(clients, cfg, Adoption(self.reason) if self.adopt else None).adopted_from
        self.train_run_id, self.gate, self.forced, self.why = release.run_id, release.gate, release.forced, release.reason
        print(f"deploying TrainFlow/{release.run_id} (gate {release.gate}{', FORCED' if release.forced else ''}) "
              f"to {self.target}: {release.reason}")
        self.next(self.fetch)

    @step
    def fetch(self):
        """Copy the run's bundle files out of its artifacts."""
        from fraudcore.registry.store import bundle_files

        self.bundle_files = bundle_files(self.train_run_id)
        self.next(self.verify)

    @step
    def verify(self):
        """Check the bundle's checksums and that its manifest names the run it came from."""
        with tempfile.TemporaryDirectory() as tmp:
            self.manifest = self._bundle(tmp).manifest
        self.next(self.package)

    @step
    def package(self):
        """Write model.tar.gz: locally, or to S3 as a SageMaker model."""
        from dataclasses import asdict

        with tempfile.TemporaryDirectory() as tmp:
            bundle = self._bundle(tmp)
            if self.target == "local":
                from deploy.release import stage_local

                self.staged = stage_local(bundle, self.local_dir)
            else:
                from deploy.sagemaker import stage_model

                cfg, clients = self._aws()
                self.staged = asdict(stage_model(clients, cfg, bundle))
        self.next(self.deploy)

    @step
    def deploy(self):
        """On SageMaker, start the blue/green canary update of the endpoint; remember the previous champion."""
        from dataclasses import asdict

        from fraudcore.registry.lookup import champion_run_id

        self.previous_champion = champion_run_id(self.settings.endpoint.environment)
        self.rollout = None
        if self.target == "sagemaker":
            from deploy.sagemaker import StagedModel, check_before_traffic, roll_out

            cfg, clients = self._aws()
            staged = StagedModel(**self.staged)
            with tempfile.TemporaryDirectory() as tmp:  # the preflight smoke test, before any traffic
                check_before_traffic(clients, cfg, self._bundle(tmp), staged, reason=self.why, forced=self.forced)
            self.rollout = asdict(roll_out(clients, cfg, staged))
        self.next(self.smoke)

    @step
    def smoke(self):
        """Send smoke requests and compare the answers with the bundle's own scores; on SageMaker, finish
        (or roll back) the rollout and record it in the deploy history."""
        from dataclasses import asdict

        self.history, self.record = [], None
        with tempfile.TemporaryDirectory() as tmp:
            bundle = self._bundle(tmp)
            if self.target == "local":
                from deploy.release import smoke_local

                self.smoke_answers = smoke_local(bundle)
            else:
                from deploy.history import read_history
                from deploy.sagemaker import RolloutResult, StagedModel, finish_rollout

                cfg, clients = self._aws()
                result = finish_rollout(clients, cfg, bundle, StagedModel(**self.staged),
                                        RolloutResult(**self.rollout), reason=self.why, forced=self.forced,
                                        gate=self.gate, adopted_from=self.adopted_from)
                self.smoke_answers, self.record = result.smoke.responses, asdict(result.record)
                from deploy.sagemaker import clean_up_releases

                self.cleaned_up = clean_up_releases(clients, cfg)
                self.history = [asdict(r) for r in read_history(clients.s3, cfg)]
        self.next(self.champion)

    @step
    def champion(self):
        """Move the champion tag to the deployed run (recorded in the registry log)."""
        from deploy.release import move_champion

        self.champion_event = move_champion(self._release(), self.settings.endpoint.environment)
        self.next(self.end)

    @card(type="blank", id="deploy")
    @step
    def end(self):
        """Draw the deploy card: what is live, what it replaced, the rollout and the smoke answers."""
        from deploy.card import deploy_card
        from fraudcore.identity import who

        record, rollout = self.record or {}, self.rollout or {}
        replaced = {"run_id": (rollout.get("previous_run_id") if self.target == "sagemaker"
                               else self.previous_champion),
                    "endpoint_config_name": rollout.get("previous_endpoint_config_name")}
        summary = {"target": self.target, "gate": self.gate, "forced": self.forced, "reason": self.why,
                   "by": record.get("by") or who(), "at": record.get("at"),
                   "live": dict(self.staged), "replaced": replaced, "rollout": rollout,
                   "smoke": self.smoke_answers, "history": self.history, "champion_event": self.champion_event}
        for component in deploy_card(summary):
            current.card["deploy"].append(component)
        print(f"TrainFlow/{self.train_run_id} is live on {self.target} and is the champion "
              f"(replaced {replaced['run_id']})")


if __name__ == "__main__":
    DeployFlow()
