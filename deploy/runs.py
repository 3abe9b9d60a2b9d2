"""Resolve a TrainFlow run id to a bundle directory through the Metaflow client.

Versions are Metaflow run ids and gate results are run tags (docs/contracts.md), so the checks that
decide whether a run may go live happen here, before any AWS call: the run exists, finished
successfully, carries `gate:passed` (or the deploy is forced, with a reason), and has a bundle.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN_FLOW = "TrainFlow"
GATE_PASSED, GATE_FAILED = "gate:passed", "gate:failed"
CHAMPION = "champion"
BUNDLE_ARTIFACT = "bundle"


class RunError(ValueError):
    """A run id that cannot be deployed: unknown, unfinished, gate failed, or without a bundle."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    gate: str  # "passed", "failed" or "unknown"
    successful: bool
    tags: tuple[str, ...]


def _client() -> Any:
    import metaflow

    metaflow.namespace(None)  # deployment sees every user's and the scheduler's runs
    return metaflow


def get_run(run_id: str) -> Any:
    mf = _client()
    from metaflow.exception import MetaflowNotFound

    try:
        return mf.Flow(TRAIN_FLOW)[run_id]
    except MetaflowNotFound as err:
        where = mf.get_metadata()
        raise RunError(f"run id {run_id!r}: no {TRAIN_FLOW} run with that id in metadata {where}") from err


def run_info(run: Any) -> RunInfo:
    tags = tuple(sorted(run.tags))
    gate = "passed" if GATE_PASSED in tags else "failed" if GATE_FAILED in tags else "unknown"
    return RunInfo(run_id=str(run.id), gate=gate, successful=bool(run.successful), tags=tags)


def latest_passed_run_id() -> str:
    """The newest successful TrainFlow run tagged gate:passed."""
    mf = _client()
    from metaflow.exception import MetaflowNotFound

    try:
        runs = mf.Flow(TRAIN_FLOW).runs(GATE_PASSED)
    except MetaflowNotFound as err:
        raise RunError(f"no {TRAIN_FLOW} runs in metadata {mf.get_metadata()}") from err
    for run in runs:
        if run.successful:
            return str(run.id)
    raise RunError(f"no successful {TRAIN_FLOW} run is tagged {GATE_PASSED!r}; pass a run id explicitly")


def check_deployable(info: RunInfo, *, force: bool, reason: str) -> None:
    """Refuse unfinished runs always, and gate failures unless forced with a reason."""
    if not info.successful:
        raise RunError(f"run id {info.run_id!r}: must be a successful {TRAIN_FLOW} run; it did not finish")
    if info.gate != "passed":
        if not force:
            raise RunError(f"run id {info.run_id!r}: must carry the tag {GATE_PASSED!r} to deploy; its gate is "
                           f"{info.gate!r} (tags {list(info.tags)}). Use --force with --reason to override")
        if not reason.strip():
            raise RunError(f"run id {info.run_id!r}: forcing a deploy past gate {info.gate!r} needs a reason")


def fetch_bundle(run: Any, dest: str | Path) -> Path:
    """Write the run's bundle artifact into `dest` and return that directory.

    The TrainFlow artifact `bundle` maps each bundle file name to its content (bytes or str): a
    directory on the training worker's disk would not survive an AWS Batch step, the artifact does.
    """
    if BUNDLE_ARTIFACT not in run.data:
        raise RunError(f"run id {run.id!r}: has no {BUNDLE_ARTIFACT!r} artifact; artifacts: "
                       f"{sorted(a.id for a in run['end'].task.artifacts)}")
    files = getattr(run.data, BUNDLE_ARTIFACT)
    if not isinstance(files, dict) or not files:
        raise RunError(f"run id {run.id!r}: artifact {BUNDLE_ARTIFACT!r} must map file names to contents; "
                       f"got {type(files).__name__}")
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if os.sep in name.strip("/") or name.startswith(".."):
            raise RunError(f"run id {run.id!r}: bundle file name {name!r} must be a plain file name")
        path = out / name
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
    return out


def tag_champion(run_id: str, reason: str) -> None:
    """Move the champion tag to `run_id` (through fraudcore.registry when it provides this)."""
    mf = _client()
    flow = mf.Flow(TRAIN_FLOW)
    for run in flow.runs(CHAMPION):
        if str(run.id) != run_id:
            run.remove_tag(CHAMPION)
    flow[run_id].add_tag(CHAMPION)
