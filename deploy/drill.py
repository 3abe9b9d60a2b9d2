"""`make aws-drill`: the whole deploy path once, against a real AWS account, with timings.

    make aws-drill                       # skipped (exit 0) when no AWS credentials are found
    python -m deploy.drill [--config F] [--keep]

Steps, each timed: build three tiny real bundles -> deploy (new endpoint) -> canary (second model,
preflight first) -> forced rollback (a rollout alarm held in ALARM while the third model's canary bakes;
SageMaker rolls it back) -> manual rollback (`fraud deploy rollback`'s code, back to the first model) ->
shadow (the second model as a shadow variant, report, stop) -> approval (a package in a *drill* package
group, approved: the template's rule watches only the real group, so nothing deploys) -> cleanup.

It runs on an endpoint of its own (`<endpoint>-drill`) with its own alarms, in the configured bucket
and account, and cleans up everything it made (endpoints, configs, models, alarms, the drill package
group, its S3 objects) even when a step fails; `--keep` leaves it for inspection. Any alarm state it
forces is reset. On real AWS expect tens of minutes (each fleet takes minutes to provision) and the cost
of a few ml.c5.large instance-hours. tests/aws/test_drill.py runs the same code against the emulator,
so the first real run needs no code changes.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

DRILL_SUFFIX = "-drill"


@dataclass
class DrillReport:
    steps: list[dict[str, Any]] = field(default_factory=list)

    def timed(self, name: str, call: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        try:
            result = call()
        except Exception as err:
            self.steps.append({"step": name, "seconds": round(time.monotonic() - t0, 2), "ok": False,
                               "detail": f"{type(err).__name__}: {err}"[:500]})
            print(f"aws-drill: {name:<18} FAILED after {time.monotonic() - t0:8.1f} s: {err}", flush=True)
            raise
        seconds = time.monotonic() - t0
        self.steps.append({"step": name, "seconds": round(seconds, 2), "ok": True, "detail": _short(result)})
        print(f"aws-drill: {name:<18} {seconds:8.1f} s  {_short(result)}", flush=True)
        return result

    @property
    def total_seconds(self) -> float:
        return round(sum(s["seconds"] for s in self.steps), 2)


def _short(result: Any) -> str:
    if result is None:
        return ""
    text = getattr(result, "run_id", None) or (result if isinstance(result, str) else json.dumps(result, default=str))
    return str(text)[:160]


def drill_config(cfg: Any) -> Any:
    """The deploy config, moved to the drill's own endpoint and package group, with a short bake."""
    from deploy.config import DeployConfig

    data = cfg.to_dict()
    data["endpoint"]["name"] = (cfg.endpoint.name[: 24 - len(DRILL_SUFFIX)] + DRILL_SUFFIX)
    data["approval"]["model_package_group"] = cfg.approval.model_package_group[: 63 - len(DRILL_SUFFIX)] + DRILL_SUFFIX
    data["rollout"].update(canary_bake_seconds=min(cfg.rollout.canary_bake_seconds, 120),
                           termination_wait_seconds=0)
    return DeployConfig.from_dict(data)


def tiny_model(seed: int) -> dict[str, Any]:
    """A real, tiny model (synthetic data, a 10-round LightGBM) with its pipeline, thresholds and profile."""
    import lightgbm as lgb

    from fraudcore.bundle import predict_scores
    from fraudcore.pipeline import FeaturePipeline
    from fraudcore.profile import build_profile
    from fraudcore.schema import paylink_schema
    from fraudcore.synth import generate_frame
    from fraudcore.thresholds import choose_thresholds

    schema = paylink_schema()
    frame = generate_frame(5000, seed)
    pipeline = FeaturePipeline(schema).fit(frame)
    X, y = pipeline.transform(frame), frame[schema.label].to_numpy()
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1, "seed": seed},
                        lgb.Dataset(X, y, feature_name=pipeline.feature_names_out_,
                                    categorical_feature=pipeline.categorical_indices_), num_boost_round=10)
    scores = predict_scores(booster, X)
    thresholds = choose_thresholds(y, scores)
    return {"schema": schema, "pipeline": pipeline, "booster": booster, "thresholds": thresholds,
            "profile": build_profile(frame, scores, schema=schema, review_threshold=thresholds.review)}


def make_bundles(dest: Path, stamp: str, count: int = 3) -> list[Path]:
    """`count` small, real bundles of `tiny_model`, each its own version."""
    from fraudcore.bundle import BundleRecord, ModelParts, write_bundle

    m = tiny_model(11)
    return [write_bundle(dest / f"bundle-{i}", ModelParts(m["booster"], m["pipeline"], m["thresholds"], m["schema"],
                                                          -0.2 * i),
                         BundleRecord(f"drill{stamp}{i}", m["profile"], metrics={"gate": "passed"},
                                      config={"rounds": 10}, data_fingerprint={"rows": 5000, "seed": 11}))
            for i in range(count)]


class _HoldAlarm:
    """Keep one alarm in ALARM while a canary bakes (real CloudWatch re-evaluates it every period)."""

    def __init__(self, cloudwatch: Any, name: str, every_s: float = 15.0) -> None:
        self.cloudwatch, self.name, self.every_s = cloudwatch, name, every_s
        self._stop = threading.Event()
        self._set()
        self._thread = threading.Thread(target=self._run, name="drill-alarm", daemon=True)
        self._thread.start()

    def _set(self) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=self.name, StateValue="ALARM", StateReason="aws-drill: forced")

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._set()

    def release(self) -> None:
        self._stop.set()
        self._thread.join(self.every_s + 5)
        # Reset what the drill forced; real CloudWatch re-evaluates from here.
        self.cloudwatch.set_alarm_state(AlarmName=self.name, StateValue="OK", StateReason="aws-drill: reset")


def run_drill(clients: Any, cfg: Any, workdir: Path, *, before_smoke: Callable[[Path], None] | None = None,
              keep: bool = False, stamp: str | None = None) -> DrillReport:
    """Every step on `cfg`'s endpoint (use `drill_config`). `before_smoke(bundle)` runs before each step
    that smoke tests (the emulator has no container: the test queues the answers there)."""
    from botocore.exceptions import ClientError

    from deploy.alarms import rollback_alarm_names
    from deploy.approval import decide, request_approval
    from deploy.clients import DeployError
    from deploy.sagemaker import deploy_bundle, rollback
    from deploy.shadow import shadow_report, start_shadow, stop_shadow
    from fraudcore.bundle import load_bundle

    ready = before_smoke or (lambda _: None)
    report = DrillReport()
    stamp = stamp or time.strftime("%Y%m%d%H%M%S")
    try:
        first, second, third = report.timed("bundles", lambda: make_bundles(workdir, stamp))

        def deploy(bundle: Path, why: str) -> Any:
            ready(bundle)
            return deploy_bundle(clients, cfg, bundle, reason=f"aws-drill: {why}", source="bundle").record

        report.timed("deploy", lambda: deploy(first, "first model"))
        report.timed("canary", lambda: deploy(second, "canary of a second model"))

        def forced() -> str:
            hold = _HoldAlarm(clients.cloudwatch, rollback_alarm_names(cfg)[0])
            try:
                deploy(third, "canary meant to roll back")
            except DeployError as err:
                if "rolled the canary" not in str(err):
                    raise
                return f"rolled back as forced: {err}"
            except ClientError as err:  # SageMaker may refuse to start an update while a named alarm fires
                if "alarm" not in str(err).lower():
                    raise
                return f"refused as forced (an auto-rollback alarm was in ALARM): {err}"
            finally:
                hold.release()
            raise DeployError("aws-drill: the canary with an alarm held in ALARM was not rolled back")
        report.timed("forced-rollback", forced)

        def manual() -> Any:
            ready(first)
            return rollback(clients, cfg, reason="aws-drill: manual rollback")
        report.timed("manual-rollback", manual)
        report.timed("shadow-start", lambda: start_shadow(clients, cfg, load_bundle(second), reason="aws-drill"))
        report.timed("shadow-report", lambda: shadow_report(clients, cfg))
        report.timed("shadow-stop", lambda: stop_shadow(clients, cfg, reason="aws-drill"))
        version = load_bundle(second).version
        report.timed("approval-request", lambda: request_approval(
            clients, cfg, run_id=version, metrics={"drill": 1.0}, card="aws-drill", evaluation="aws-drill")[
                "ModelApprovalStatus"])
        report.timed("approve", lambda: decide(clients, cfg, version, approve=True, reason="aws-drill"))
    finally:
        if not keep:
            report.timed("cleanup", lambda: clean_up_drill(clients, cfg))
    return report


def clean_up_drill(clients: Any, cfg: Any) -> list[str]:
    """Delete everything the drill made; the endpoint name must end in the drill suffix."""
    from botocore.exceptions import ClientError

    from deploy.preflight import tear_down

    name = cfg.endpoint.name
    if not name.endswith(DRILL_SUFFIX):
        raise ValueError(f"clean_up_drill: endpoint.name must end in {DRILL_SUFFIX!r}; got {name!r}")
    sm, gone = clients.sagemaker, []
    tear_down(clients, cfg)
    try:
        sm.delete_endpoint(EndpointName=name)
        gone.append(f"endpoint/{name}")
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 80})
    except ClientError:
        pass
    for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=name):
        for c in page["EndpointConfigs"]:
            if c["EndpointConfigName"].startswith(f"{name}-"):
                sm.delete_endpoint_config(EndpointConfigName=c["EndpointConfigName"])
                gone.append(f"endpoint-config/{c['EndpointConfigName']}")
    for page in sm.get_paginator("list_models").paginate(NameContains=name):
        for m in page["Models"]:
            if m["ModelName"].startswith(f"{name}-"):
                sm.delete_model(ModelName=m["ModelName"])
                gone.append(f"model/{m['ModelName']}")
    alarms = [a["AlarmName"] for page in clients.cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{name}-") for a in page.get("MetricAlarms", [])]
    if alarms:
        for i in range(0, len(alarms), 100):
            clients.cloudwatch.delete_alarms(AlarmNames=alarms[i:i + 100])
        gone.append(f"{len(alarms)} alarms")
    group = cfg.approval.model_package_group
    try:
        for page in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            for p in page["ModelPackageSummaryList"]:
                sm.delete_model_package(ModelPackageName=p["ModelPackageArn"])
        sm.delete_model_package_group(ModelPackageGroupName=group)
        gone.append(f"model-package-group/{group}")
    except ClientError:
        pass
    st = cfg.storage
    prefixes = [f"{st.history_prefix}/{name}/", f"{st.history_prefix}/_shadow/{name}/",
                f"{st.history_prefix}/_approvals/{group}/", f"{st.model_prefix}/drill"]
    for prefix in prefixes:
        keys = [{"Key": o["Key"]} for page in clients.s3.get_paginator("list_objects_v2").paginate(
            Bucket=st.bucket, Prefix=prefix) for o in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            clients.s3.delete_objects(Bucket=st.bucket, Delete={"Objects": keys[i:i + 1000]})
        if keys:
            gone.append(f"{len(keys)} objects under {prefix}")
    return gone


def credentials_missing() -> str:
    """Why the drill cannot run here ('' when it can)."""
    import boto3

    try:
        creds = boto3.Session().get_credentials()
    except Exception as err:  # a broken profile is as good as none, for deciding to skip
        return f"no usable AWS credentials ({err})"
    return "" if creds is not None else "no AWS credentials found (environment, profile or instance role)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="aws-drill", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=None, help="deploy settings (default config/deploy.toml)")
    p.add_argument("--keep", action="store_true", help="leave what the drill made, for inspection")
    p.add_argument("--json", type=Path, default=None, help="also write the timings here")
    args = p.parse_args(argv)
    missing = credentials_missing()
    if missing:
        print(f"aws-drill: skipped: {missing}. Set credentials for the target account and run `make aws-drill`.")
        return 0
    from deploy.clients import AwsClients
    from deploy.config import load_deploy_config

    cfg = drill_config(load_deploy_config(args.config))
    clients = AwsClients.create(cfg)
    print(f"aws-drill: account {clients.sts.get_caller_identity()['Account']}, region {cfg.region}, "
          f"endpoint {cfg.endpoint.name}", flush=True)
    with tempfile.TemporaryDirectory(prefix="aws-drill-") as tmp:
        report = run_drill(clients, cfg, Path(tmp), keep=args.keep)
    print(f"aws-drill: done in {report.total_seconds:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"steps": report.steps, "total_seconds": report.total_seconds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
