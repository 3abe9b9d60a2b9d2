"""One release of a TrainFlow run: the sequence DeployFlow's steps and `fraud deploy sagemaker` share.

1. `plan_release`: resolve the run (default: the newest run tagged gate:passed), refuse unfinished runs
   and, unless forced with a reason, runs that failed their gate; settle the reason recorded everywhere;
2. `release_bundle`: write the run's bundle artifact to disk, verify and load it, and check it is the
   run's own (its manifest names the run);
3. deploy it: `deploy.sagemaker` (or, for DeployFlow's `target=local`, `stage_local` and `smoke_local`);
4. `move_champion`: tag the run `champion`, recorded in the registry log.
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
from deploy.sagemaker import DeployResult, deploy_bundle
from deploy.smoke import expected_answers, smoke_requests
from fraudcore.bundle import Bundle, BundleError, load_bundle, package_bundle
from fraudcore.registry import RegistryError
from fraudcore.registry.champion import promote
from fraudcore.registry.lookup import GATE_PASSED, TRAIN_FLOW, champion_run_id, gate_of, get_run, latest_passed_run_id
from fraudcore.registry.store import bundle_files, write_bundle_files

LOCAL_SMOKE_REQUESTS = 3


@dataclass(frozen=True)
class Release:
    """A run cleared to go live, and why: what the deploy history and the champion log record."""

    run_id: str
    gate: str  # "passed", "failed" or "unknown"
    forced: bool  # deployed past a failed gate
    reason: str


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
    forced = gate != "passed"
    if forced and not force:
        raise RegistryError(f"run id {rid!r}: must carry the tag {GATE_PASSED!r} to deploy; its gate is {gate!r}. "
                            "Deploy it anyway only with force and a reason")
    if forced and not reason.strip():
        raise RegistryError(f"run id {rid!r}: forcing a deploy past gate {gate!r} needs a reason; got {reason!r}")
    return Release(rid, gate, forced, reason or f"deploy of {rid} (gate {gate})")


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


def move_champion(release: Release) -> dict[str, Any] | None:
    """Tag the run `champion` (recorded in the registry log); None if it already is the champion."""
    if champion_run_id() == release.run_id:
        return None
    return promote(release.run_id, reason=release.reason, force=release.forced)


def follow_rollback(run_id: str, reason: str) -> dict[str, Any] | None:
    """After the endpoint went back to `run_id`, make that run the champion again (logged as a move)."""
    run = get_run(run_id)
    gate = gate_of(run.tags)
    return move_champion(Release(str(run.id), gate, gate != "passed", f"endpoint rolled back: {reason}"))


def deploy_release(clients: AwsClients, cfg: DeployConfig, release: Release) -> DeployResult:
    """Steps 2-4 for the SageMaker endpoint in one call (`fraud deploy sagemaker --run-id`)."""
    with tempfile.TemporaryDirectory(prefix="paylink-bundle-") as tmp:
        bundle = release_bundle(release, bundle_files(release.run_id), Path(tmp) / "bundle")
        result = deploy_bundle(clients, cfg, bundle, reason=release.reason, forced=release.forced, source="run")
    move_champion(release)
    return result
