"""TrainFlow runs as deployment sees them: resolve, check the gate, fetch the bundle, move the champion.

Versions are Metaflow run ids and gate results are run tags (docs/contracts.md); `fraudcore.registry`
owns those rules and the champion log. This adapter adds what only deployment needs: the checks that
decide whether a run may go live happen here, before any AWS call.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudcore import registry
from fraudcore.registry import RegistryError

__all__ = ["RegistryError", "RunInfo", "check_deployable", "fetch_bundle_files", "move_champion", "resolve_run",
           "write_bundle_files"]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    gate: str  # "passed", "failed" or "unknown"
    successful: bool
    tags: tuple[str, ...]


def resolve_run(run_id: str | None) -> RunInfo:
    """The given run, or (for None/"") the newest successful run tagged gate:passed."""
    if not run_id:
        latest = registry.latest_passed_run_id()
        if latest is None:
            raise RegistryError(f"run id: none given, and no successful {registry.TRAIN_FLOW} run is tagged "
                                f"{registry.GATE_PASSED!r}; pass one explicitly")
        run_id = latest
    try:
        run = registry.get_run(run_id)
    except KeyError as err:  # metaflow's Flow[id] raises KeyError for an unknown run of a known flow
        raise RegistryError(f"run id {run_id!r}: no {registry.TRAIN_FLOW} run with that id") from err
    except RegistryError as err:
        if str(err).startswith("run id"):
            raise
        raise RegistryError(f"run id {run_id!r}: cannot be resolved: {err}") from err
    tags = tuple(sorted(run.tags))
    return RunInfo(run_id=str(run.id), gate=registry.gate_of(tags), successful=bool(run.successful), tags=tags)


def check_deployable(info: RunInfo, *, force: bool, reason: str) -> bool:
    """Refuse unfinished runs always, and gate failures unless forced with a reason; return `forced`."""
    if not info.successful:
        raise RegistryError(f"run id {info.run_id!r}: must be a successful {registry.TRAIN_FLOW} run to deploy; "
                            "it did not finish")
    if info.gate == "passed":
        return False
    if not force:
        raise RegistryError(f"run id {info.run_id!r}: must carry the tag {registry.GATE_PASSED!r} to deploy; its "
                            f"gate is {info.gate!r}. Deploy it anyway only with force and a reason")
    if not reason.strip():
        raise RegistryError(f"run id {info.run_id!r}: forcing a deploy past gate {info.gate!r} needs a reason; "
                            f"got {reason!r}")
    return True


def fetch_bundle_files(run_id: str) -> dict[str, bytes]:
    """The run's bundle artifact (file name -> bytes): it survives AWS Batch, a worker's disk does not."""
    return registry.bundle_files(registry.get_run(run_id))


def write_bundle_files(files: dict[str, bytes], dest: str | Path) -> Path:
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if "/" in name or name.startswith("."):
            raise RegistryError(f"bundle file name {name!r} must be a plain file name")
        (out / name).write_bytes(content)
    return out


def move_champion(run_id: str, reason: str, forced: bool) -> dict[str, Any] | None:
    """Tag the run `champion` (recorded in the registry log); None if it already is the champion."""
    if registry.champion_run_id() == run_id:
        return None
    return registry.promote(run_id, reason=reason, force=forced)


def follow_rollback(run_id: str, reason: str) -> dict[str, Any] | None:
    """After the endpoint went back to `run_id`, make that run the champion again (logged as a move)."""
    info = resolve_run(run_id)
    return move_champion(info.run_id, f"endpoint rolled back: {reason}", forced=info.gate != "passed")
