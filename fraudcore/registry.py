"""Model versions and the champion: Metaflow run tags, plus an append-only log of every champion move.

- A version is a TrainFlow run id. Its gate result is the tag `gate:passed` / `gate:failed`.
- The champion is the tag `champion` on exactly one successful TrainFlow run.
- Every move (promote, rollback) is appended to an append-only log, one object per move with
  `event`, `at` (UTC), `user`, `from`, `to` and `reason`. Tags say where the champion is; the log says
  how it got there, and rollback walks it back (a stack: promote pushes, rollback pops).

Where things live: the Metaflow local datastore is the `.metaflow` directory found from the current
directory upwards, or `METAFLOW_DATASTORE_SYSROOT_LOCAL`; failing both, the repository root (so the
commands work from anywhere inside the checkout). The log (`log_location`) is, first found:
`FRAUD_REGISTRY_LOG` (a file path or an `s3://bucket/prefix` URL); when Metaflow's datastore is S3,
`<METAFLOW_DATASTORE_SYSROOT_S3>/fraud-registry/`, so everyone using that datastore shares one log;
otherwise `fraud-registry/champion-events.jsonl` beside the `.metaflow` directory. The storage itself
(JSON Lines file, or one S3 object per event) is `fraudcore.registry_log`.

Metaflow and boto3 are imported lazily: importing fraudcore never touches them.
"""
from __future__ import annotations

import getpass
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fraudcore.registry_log import EventLog, RegistryError, is_s3_url, open_event_log

TRAIN_FLOW = "TrainFlow"
CHAMPION = "champion"
GATE_PASSED, GATE_FAILED = "gate:passed", "gate:failed"
BUNDLE_ARTIFACT = "bundle"
HEADLINE_ARTIFACT = "headline"
LOG_ENV = "FRAUD_REGISTRY_LOG"
REPO_ROOT = Path(__file__).resolve().parent.parent
S3_LOG_DIR = "fraud-registry/"


def datastore_root() -> Path:
    """The directory holding `.metaflow` (see the module docstring for the search order)."""
    env = os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / ".metaflow").is_dir():
            return d
    if (REPO_ROOT / ".metaflow").is_dir():
        return REPO_ROOT
    raise RegistryError(f"no Metaflow datastore: no .metaflow directory in {here} or its parents, none in the "
                        f"repository root {REPO_ROOT}, and METAFLOW_DATASTORE_SYSROOT_LOCAL is not set. "
                        "Run a TrainFlow first (make train)")


def _metaflow_s3_root() -> str | None:
    """METAFLOW_DATASTORE_SYSROOT_S3 when Metaflow's default datastore is S3 (env or Metaflow's config)."""
    from metaflow.metaflow_config_funcs import from_conf

    if from_conf("DEFAULT_DATASTORE", "local") != "s3":
        return None
    root = from_conf("DATASTORE_SYSROOT_S3")
    if not root:
        raise RegistryError("Metaflow's default datastore is s3 but METAFLOW_DATASTORE_SYSROOT_S3 is not set, so "
                            f"the registry log has no home; set it, or set {LOG_ENV}")
    return str(root)


def log_location() -> str:
    """Where champion moves are recorded: a file path or an s3:// URL (search order in the module doc)."""
    env = os.environ.get(LOG_ENV)
    if env:
        return env
    s3_root = _metaflow_s3_root()
    if s3_root:
        return s3_root.rstrip("/") + "/" + S3_LOG_DIR
    return str(datastore_root() / "fraud-registry" / "champion-events.jsonl")


def log_path() -> Path:
    """The local log file; RegistryError when the log is on S3 (use `log_location`)."""
    location = log_location()
    if is_s3_url(location):
        raise RegistryError(f"the registry log is on S3 ({location}), not a local file")
    return Path(location)


def event_log() -> EventLog:
    return open_event_log(log_location())


def _metaflow() -> Any:
    import metaflow

    if metaflow.get_metadata().startswith("local"):
        # every call: the datastore may have moved since metaflow was imported (tests, other checkouts)
        metaflow.metadata(f"local@{datastore_root()}")
    metaflow.namespace(None)  # every user's and the scheduler's runs
    return metaflow


def _flow() -> Any:
    mf = _metaflow()
    from metaflow.exception import MetaflowNotFound

    try:
        return mf.Flow(TRAIN_FLOW)
    except MetaflowNotFound as err:
        raise RegistryError(f"no {TRAIN_FLOW} runs in metadata {mf.get_metadata()}; run a TrainFlow first") from err


def get_run(run_id: str) -> Any:
    from metaflow.exception import MetaflowNotFound

    flow = _flow()
    try:
        return flow[str(run_id)]
    except MetaflowNotFound as err:
        raise RegistryError(f"run id {run_id!r}: no {TRAIN_FLOW} run with that id in "
                            f"{_metaflow().get_metadata()}") from err


def gate_of(tags: Any) -> str:
    tags = set(tags)
    return "passed" if GATE_PASSED in tags else "failed" if GATE_FAILED in tags else "unknown"


def champion_run_id() -> str | None:
    """The run tagged `champion`, or None when there is none yet."""
    try:
        runs = [str(r.id) for r in _flow().runs(CHAMPION)]
    except RegistryError:
        return None
    if len(runs) > 1:
        raise RegistryError(f"tag {CHAMPION!r} must be on exactly one {TRAIN_FLOW} run; found it on {runs}. "
                            "Fix with `fraud models promote RUN_ID --reason ...`")
    return runs[0] if runs else None


def latest_passed_run_id() -> str | None:
    """The newest successful run tagged `gate:passed`, or None."""
    try:
        runs = _flow().runs(GATE_PASSED)
    except RegistryError:
        return None
    return next((str(r.id) for r in runs if r.successful), None)


def _headline(run: Any) -> dict[str, Any] | None:
    try:
        return dict(getattr(run["end"].task.data, HEADLINE_ARTIFACT))
    except (KeyError, AttributeError):
        return None
    except Exception as err:  # a half-written run: say which, don't hide the listing
        return {"error": f"{type(err).__name__}: {err}"}


def list_runs(limit: int | None = None) -> list[dict[str, Any]]:
    """TrainFlow runs, newest first, with gate, champion flag and headline metrics."""
    try:
        flow = _flow()
    except RegistryError:
        return []
    out = []
    for run in flow.runs():
        tags = set(run.tags)
        finished = run.finished_at
        out.append({"run_id": str(run.id), "gate": gate_of(tags), "champion": CHAMPION in tags,
                    "successful": bool(run.successful), "finished": bool(run.finished),
                    "created_at": run.created_at.isoformat() if run.created_at else None,
                    "finished_at": finished.isoformat() if finished else None,
                    "metrics": _headline(run) if run.successful else None})
        if limit is not None and len(out) >= limit:
            break
    return out


def history() -> list[dict[str, Any]]:
    """Every recorded champion move, oldest first."""
    return event_log().read()


def _append(event: dict[str, Any], log: EventLog | None = None) -> dict[str, Any]:
    return (log or event_log()).append(event)


def _who(user: str | None) -> str:
    return user or os.environ.get("METAFLOW_USER") or getpass.getuser()


def _move(flow: Any, to_run: Any) -> None:
    for run in flow.runs(CHAMPION):
        if str(run.id) != str(to_run.id):
            run.remove_tag(CHAMPION)
    to_run.add_tag(CHAMPION)


def _need_reason(reason: str, what: str) -> str:
    if not reason or not reason.strip():
        raise RegistryError(f"{what} needs a reason (--reason): who reads the log later needs to know why; got {reason!r}")
    return reason.strip()


def promote(run_id: str, reason: str, user: str | None = None, force: bool = False) -> dict[str, Any]:
    """Make `run_id` the champion. It must have finished and passed its gate (unless forced)."""
    reason = _need_reason(reason, "promote")
    run = get_run(run_id)
    if not run.successful:
        raise RegistryError(f"run id {run_id!r}: must be a successful {TRAIN_FLOW} run to be champion; it did not finish")
    gate = gate_of(run.tags)
    if gate != "passed" and not force:
        raise RegistryError(f"run id {run_id!r}: must carry {GATE_PASSED!r} to be promoted; its gate is {gate!r}. "
                            "Pass force=True (--force) to override, with a reason")
    before = champion_run_id()
    if before == str(run.id):
        raise RegistryError(f"run id {run_id!r} is already the champion; nothing to promote")
    log = event_log()
    log.check()  # an unreachable log (no bucket, no credentials) stops the move before the tag changes
    _move(_flow(), run)
    return _append({"event": "promote", "at": _now(), "user": _who(user), "from": before, "to": str(run.id),
                    "reason": reason, "gate": gate, "forced": bool(force and gate != "passed")}, log)


def champion_stack(events: list[dict[str, Any]] | None = None) -> list[str]:
    """Champions in order of promotion, with rolled-back ones popped; the last is the current one."""
    stack: list[str] = []
    for e in history() if events is None else events:
        if e.get("event") == "promote":
            stack.append(e["to"])
        elif e.get("event") == "rollback" and stack:
            stack.pop()
    return stack


def rollback(reason: str, user: str | None = None) -> dict[str, Any]:
    """Move the champion back to the one before it, as recorded in the log."""
    reason = _need_reason(reason, "rollback")
    current = champion_run_id()
    log = event_log()
    stack = champion_stack(log.read())
    if current is None:
        raise RegistryError("rollback needs a current champion; no run is tagged 'champion'")
    if not stack or stack[-1] != current:
        raise RegistryError(f"the registry log ({log.location}) says the champion is {stack[-1] if stack else None!r}, "
                            f"the tag says {current!r}; promote explicitly to record the move")
    if len(stack) < 2:
        raise RegistryError(f"no earlier champion to roll back to: {current!r} is the first recorded champion")
    target = get_run(stack[-2])
    _move(_flow(), target)
    return _append({"event": "rollback", "at": _now(), "user": _who(user), "from": current, "to": str(target.id),
                    "reason": reason}, log)


def tag_gate(run_id: str, passed: bool) -> None:
    """Record a run's gate result as its tag (replacing an earlier result, e.g. after resume)."""
    run = get_run(run_id)
    new, old = (GATE_PASSED, GATE_FAILED) if passed else (GATE_FAILED, GATE_PASSED)
    if old in run.tags:
        run.replace_tag(old, new)
    else:
        run.add_tag(new)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve(run_id_or_champion: str) -> str:
    if run_id_or_champion == CHAMPION:
        rid = champion_run_id()
        if rid is None:
            raise RegistryError("model 'champion' requested but no run is tagged 'champion'; promote one first "
                                "(fraud models promote RUN_ID --reason ...)")
        return rid
    return str(run_id_or_champion)


def bundle_files(run: Any) -> dict[str, bytes]:
    try:
        files = getattr(run["end"].task.data, BUNDLE_ARTIFACT)
    except (KeyError, AttributeError) as err:
        raise RegistryError(f"run id {run.id!r}: has no {BUNDLE_ARTIFACT!r} artifact (did it finish?)") from err
    if not isinstance(files, dict) or not files:
        raise RegistryError(f"run id {run.id!r}: artifact {BUNDLE_ARTIFACT!r} must map file names to bytes; "
                            f"got {type(files).__name__}")
    return {str(k): v if isinstance(v, bytes) else str(v).encode() for k, v in files.items()}


def resolve_bundle_dir(spec: str | Path) -> Path:
    """A bundle directory, a TrainFlow run id or "champion" -> a bundle directory on this machine.

    The one resolution the server and the monitor share, so both judge traffic by the same bundle.
    A spec that looks like a path but is no directory is not tried as a run id.
    """
    text = str(spec)
    if not text:
        raise RegistryError("model spec is empty; give a bundle directory, a TrainFlow run id or 'champion'")
    if Path(text).is_dir():
        return Path(text)
    if "/" in text or text.startswith("."):
        raise RegistryError(f"{text!r} looks like a path but is not a directory")
    return materialize_bundle(text)


def materialize_bundle(run_id_or_champion: str, dest_root: str | Path | None = None) -> Path:
    """Write a run's bundle (or the champion's) to `<dest_root>/<run_id>/` and verify it.

    A cached copy that still verifies is reused. Default `dest_root`: `fraud-registry/bundles`
    beside the datastore.
    """
    from fraudcore.bundle import BundleError, load_bundle

    rid = resolve(run_id_or_champion)
    root = Path(dest_root) if dest_root is not None else datastore_root() / "fraud-registry" / "bundles"
    dest = root / rid
    if dest.is_dir():
        try:
            load_bundle(dest)
            return dest
        except BundleError:
            shutil.rmtree(dest)
    files = bundle_files(get_run(rid))
    tmp = root / f".{rid}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, content in files.items():
        if "/" in name or name.startswith("."):
            raise RegistryError(f"run id {rid!r}: bundle file name {name!r} must be a plain file name")
        (tmp / name).write_bytes(content)
    load_bundle(tmp)  # raises BundleError naming the file that differs
    tmp.rename(dest)
    return dest
