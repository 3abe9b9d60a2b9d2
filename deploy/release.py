"""One release of a model: the sequence every deploy path shares (DeployFlow's steps, `fraud deploy sagemaker
--run-id` and `fraud deploy sagemaker --bundle`), so the gate, force and reason rules and the history are the same
whichever way a model goes live.

1. plan: `plan_release` for a TrainFlow run id (default: the newest run tagged gate:passed), or
   `plan_bundle_release` for a bundle directory. Unfinished runs are refused; a gate that did not pass (failed
   or unknown) is refused unless forced with a reason; the reason recorded everywhere is settled here. A bundle
   whose run id is a TrainFlow run in the registry is that run (its gate tag decides, and the champion follows
   it); any other bundle is judged by the gate its own metrics record;
2. `release_bundle`: write the run's bundle artifact to disk, verify and load it, and check it is the
   run's own (its manifest names the run);
3. deploy it: `deploy.sagemaker` (or, for DeployFlow's `target=local`, `stage_local` and `smoke_local`),
   recording gate, force, reason and ownership in the deploy history;
4. `move_champion`: tag the run as the champion of the endpoint's environment, recorded in the registry log.
   After `fraud deploy rollback`, `follow_rollback` records the champion's move as a `rollback`.
`deploy_release` runs 2-4 in one call for the CLI; DeployFlow runs them as steps. Versions are Metaflow
run ids and gate results are run tags (docs/contracts.md); `fraudcore.registry` owns those rules.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.clients import AwsClients
from deploy.config import DeployConfig
from deploy.sagemaker import Adoption, DeployResult, deploy_bundle
from deploy.smoke import expected_answers, smoke_requests
from fraudcore.bundle import Bundle, BundleError, load_bundle, package_bundle
from fraudcore.registry import RegistryError
from fraudcore.registry.champion import follow_endpoint_rollback, promote
from fraudcore.registry.lookup import (DEFAULT_ENVIRONMENT, GATE_PASSED, TRAIN_FLOW, champion_run_id, gate_of, get_run,
                                       latest_passed_run_id)
from fraudcore.registry.store import bundle_files, write_bundle_files

LOCAL_SMOKE_REQUESTS = 3


@dataclass(frozen=True)
class Release:
    """A run cleared to go live, and why: what the deploy history and the champion log record."""

    run_id: str
    gate: str  # "passed", "failed" or "unknown"
    forced: bool  # deployed past a gate that did not pass
    reason: str
    source: str = "run"  # "run": a TrainFlow run (the champion follows it); "bundle": a directory of no known run


def _cleared(rid: str, gate: str, force: bool, reason: str, what: str, source: str) -> Release:
    """The one gate rule: a gate that did not pass needs force and a reason, and is recorded as forced."""
    forced = gate != "passed"
    if forced and not force:
        raise RegistryError(f"{what} {rid!r}: must carry the tag {GATE_PASSED!r} to deploy; its gate is {gate!r}. "
                            "Deploy it anyway only with force and a reason")
    if forced and not reason.strip():
        raise RegistryError(f"{what} {rid!r}: forcing a deploy past gate {gate!r} needs a reason; got {reason!r}")
    return Release(rid, gate, forced, reason or f"deploy of {rid} (gate {gate})", source)


def bundle_gate(bundle: Bundle) -> str:
    """The gate a bundle's own metrics record ("passed", "failed", or "unknown" when they record none)."""
    gate = bundle.metrics.get("gate")
    if isinstance(gate, dict) and isinstance(gate.get("passed"), bool):
        return "passed" if gate["passed"] else "failed"
    return gate if gate in ("passed", "failed") else "unknown"


def plan_bundle_release(bundle: Bundle, *, force: bool, reason: str) -> Release:
    """A bundle directory, checked for release by the same rules as a run.

    Its run id names a TrainFlow run in the registry: that run's release (its gate tag, not the bundle's
    copy, decides). Otherwise the gate the bundle's metrics record decides, and the champion does not move.
    """
    try:
        get_run(bundle.version)
    except RegistryError:
        return _cleared(bundle.version, bundle_gate(bundle), force, reason, "bundle of run", "bundle")
    return plan_release(bundle.version, force=force, reason=reason)


def plan_release(run_id: str | None, *, force: bool, reason: str) -> Release:
    """The given run, or (for None/"") the newest successful run tagged gate:passed, checked for release.

    Unfinished runs are always refused; gate failures unless forced with a reason.
    """
    if not run_id:
        run_id = latest_passed_run_id()
        if run_id is None:
            raise RegistryError(f"run id: none given, and no successful {TRAIN_FLOW} run is tagged "
                                f"{GATE_PASSED!r}; pass one explicitly")
    run = get_run(run_id)
    rid, gate = str(run.id), gate_of(run.tags)
    if not run.successful:
        raise RegistryError(f"run id {rid!r}: must be a successful {TRAIN_FLOW} run to deploy; it did not finish")
    return _cleared(rid, gate, force, reason, "run id", "run")


def release_bundle(release: Release, files: dict[str, bytes], dest: str | Path) -> Bundle:
    """The run's bundle files written under `dest`, verified, loaded and checked to be this run's."""
    bundle = load_bundle(write_bundle_files(files, dest))
    if bundle.version != release.run_id:
        raise BundleError(f"bundle manifest 'run_id' must be the run it came from ({release.run_id!r}); "
                          f"got {bundle.version!r}")
    return bundle


def stage_local(bundle: Bundle, local_dir: str | Path) -> dict[str, str]:
    """DeployFlow's `target=local`: the verified model.tar.gz under `<local_dir>/<run id>/`."""
    out = Path(local_dir) / bundle.version / "model.tar.gz"
    sha256 = package_bundle(bundle.path, out)
    return {"run_id": bundle.version, "model_data_url": str(out), "archive_sha256": sha256}


def smoke_local(bundle: Bundle) -> list[dict[str, Any]]:
    """DeployFlow's `target=local`: the answers `fraud serve` gives smoke requests, from the bundle itself."""
    requests = smoke_requests(bundle.schema, LOCAL_SMOKE_REQUESTS)
    return [{"model_version": bundle.version, "score": s, "decision": d} for s, d in expected_answers(bundle, requests)]


def move_champion(release: Release, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Any] | None:
    """Tag the run as `environment`'s champion (recorded in the registry log); None if it already is, or if the
    release is a bundle of no known run (`fraud deploy status` then shows the champion is not live)."""
    if release.source != "run" or champion_run_id(environment) == release.run_id:
        return None
    return promote(release.run_id, reason=release.reason, force=release.forced, environment=environment)


def follow_rollback(run_id: str, reason: str, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Any] | None:
    """After the endpoint went back to `run_id`, make that run the champion again, recorded as a `rollback`."""
    return follow_endpoint_rollback(run_id, f"endpoint rolled back: {reason}", environment=environment)


def deploy_release(clients: AwsClients, cfg: DeployConfig, release: Release, bundle: Bundle | None = None,
                   adopt: Adoption | None = None) -> DeployResult:
    """Steps 2-4 for the SageMaker endpoint in one call (`fraud deploy sagemaker --run-id` or `--bundle`).

    `bundle`: the verified directory `plan_bundle_release` judged (its manifest names the run); None: the run's
    own bundle artifact, fetched and verified.
    """
    with tempfile.TemporaryDirectory(prefix="paylink-bundle-") as tmp:
        if bundle is None:
            bundle = release_bundle(release, bundle_files(release.run_id), Path(tmp) / "bundle")
        elif bundle.version != release.run_id:
            raise BundleError(f"bundle manifest 'run_id' must be the released run ({release.run_id!r}); "
                              f"got {bundle.version!r}")
        result = deploy_bundle(clients, cfg, bundle, reason=release.reason, forced=release.forced,
                               source=release.source, gate=release.gate, adopt=adopt)
    move_champion(release, cfg.endpoint.environment)
    return result
