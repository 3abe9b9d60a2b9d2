"""The champion protocol: promote and roll back, each move recorded in an append-only log.

- The champion is the tag `champion` on exactly one successful TrainFlow run (`lookup` reads it).
- Every move (promote, rollback) is appended to an append-only log, one object per move with
  `event`, `at` (UTC), `user`, `from`, `to` and `reason`. Tags say where the champion is; the log says
  how it got there, and rollback walks it back (a stack: promote pushes, rollback pops).

A move is a compare-and-set on the log, so two people moving the champion at once cannot both win:
1. read the log once (its events and the number the next move must take) and the tag; refuse if the tag
   and the log's top of stack disagree (the tag was moved by hand; `promote --force` records a resync);
2. decide the move from that reading (a rollback's target is the stack's second entry);
3. record it at exactly that number (`EventLog.append_at`). If another move landed first, refuse, naming
   it: nothing has moved yet;
4. only then move the tag. If that fails, put the tag back and append a `revert` event naming the failed
   move (`reverts`: its `seq`); the stack skips reverted moves, so the log and the tag agree again.
The log is written before the tag because the log is where the order is decided (S3 conditional puts or
a file lock); the tag has no compare-and-set. Between steps 3 and 4 the tag lags the log for a moment,
and a move started then is refused as a disagreement and can simply be re-run.

Where the log lives (`log_location`), first found: `FRAUD_REGISTRY_LOG` (a file path or an
`s3://bucket/prefix` URL); when Metaflow's datastore is S3, `<METAFLOW_DATASTORE_SYSROOT_S3>/fraud-registry/`,
so everyone using that datastore shares one log; otherwise `fraud-registry/champion-events.jsonl` beside
the `.metaflow` directory. The storage itself (JSON Lines file, or one S3 object per event) is
`fraudcore.registry.champion_log`.

Metaflow and boto3 are imported lazily: importing fraudcore never touches them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fraudcore.identity import who
from fraudcore.registry import RegistryError
from fraudcore.registry.champion_log import EventLog, LogState, SequenceTaken, describe, is_s3_url, open_event_log
from fraudcore.registry.lookup import (CHAMPION, GATE_PASSED, TRAIN_FLOW, champion_run_id, datastore_root, gate_of,
                                       get_run, train_flow)

LOG_ENV = "FRAUD_REGISTRY_LOG"
S3_LOG_DIR = "fraud-registry/"


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


def history() -> list[dict[str, Any]]:
    """Every recorded champion move, oldest first."""
    return event_log().read()


def _need_reason(reason: str, what: str) -> str:
    if not reason or not reason.strip():
        raise RegistryError(f"{what} needs a reason (--reason): who reads the log later needs to know why; got {reason!r}")
    return reason.strip()


@dataclass(frozen=True)
class Move:
    """A champion move decided from one reading of the log and not yet made (`plan_promote`, `plan_rollback`).

    `apply` records `event` as move number `sequence` only if no other move landed since that reading.
    """

    log: EventLog
    sequence: int
    event: dict[str, Any]
    target: str  # the run to tag champion
    tag_before: str | None  # the run tagged champion when the move was planned


def _read(log: EventLog) -> tuple[LogState, list[str], str | None]:
    """The log's state, its stack and the tagged champion. The log first: an unreachable log (no bucket, no
    credentials) stops a move before anything else is looked at."""
    state = log.state()
    return state, champion_stack(list(state.events)), champion_run_id()


def _refuse_disagreement(what: str, log: EventLog, state: LogState, tag: str | None, top: str | None) -> None:
    last = (f"move {state.events[-1].get('seq', len(state.events))}, {describe(state.events[-1])}" if state.events
            else "none recorded")
    raise RegistryError(f"{what} refused: the champion tag is on run {tag!r} but the registry log ({log.location}) "
                        f"says the champion is {top!r} (latest move: {last}). Someone moved the tag outside "
                        "`fraud models`, or that move is still tagging (then re-run in a few seconds). Check "
                        "`fraud models list` and `fraud models history`, then record where the champion belongs "
                        "with `fraud models promote RUN_ID --force --reason ...`")


def plan_promote(run_id: str, reason: str, user: str | None = None, force: bool = False,
                 resync: bool = False) -> Move:
    """The promote of `run_id`: it must have finished and passed its gate (`force` overrides the gate).

    The champion tag and the log's top of stack must agree; `resync` records the move anyway, bringing
    them back together after someone moved the tag by hand. The CLI's --force sets both; DeployFlow passes
    only `force` (for the gate), so an automated deploy never papers over a disagreement.
    """
    reason = _need_reason(reason, "promote")
    log = event_log()
    state, stack, tag = _read(log)
    run = get_run(run_id)
    if not run.successful:
        raise RegistryError(f"run id {run_id!r}: must be a successful {TRAIN_FLOW} run to be champion; it did not finish")
    gate = gate_of(run.tags)
    if gate != "passed" and not force:
        raise RegistryError(f"run id {run_id!r}: must carry {GATE_PASSED!r} to be promoted; its gate is {gate!r}. "
                            "Pass force=True (--force) to override, with a reason")
    rid, top = str(run.id), stack[-1] if stack else None
    if top != tag and not resync:
        _refuse_disagreement(f"promote of run {rid!r}", log, state, tag, top)
    if top == tag == rid:
        raise RegistryError(f"run id {run_id!r} is already the champion; nothing to promote")
    event = {"event": "promote", "at": _now(), "user": who(user), "from": top, "to": rid, "reason": reason,
             "gate": gate, "forced": bool(force and gate != "passed")}
    if top != tag:
        event["resynced"] = {"tag": tag, "log": top}
    return Move(log, state.next_sequence, event, rid, tag)


def plan_rollback(reason: str, user: str | None = None) -> Move:
    """The move back to the champion before the current one, as the log's stack records it.

    No override: a rollback walks the log, so the log must be right first (promote with --force).
    """
    reason = _need_reason(reason, "rollback")
    log = event_log()
    state, stack, tag = _read(log)
    if tag is None:
        raise RegistryError("rollback needs a current champion; no run is tagged 'champion'")
    top = stack[-1] if stack else None
    if top != tag:
        _refuse_disagreement("rollback", log, state, tag, top)
    if len(stack) < 2:
        raise RegistryError(f"no earlier champion to roll back to: {tag!r} is the first recorded champion")
    target = str(get_run(stack[-2]).id)
    event = {"event": "rollback", "at": _now(), "user": who(user), "from": tag, "to": target, "reason": reason}
    return Move(log, state.next_sequence, event, target, tag)


def apply(move: Move) -> dict[str, Any]:
    """Record the move at exactly its planned number, then move the tag (why in this order: module doc)."""
    what = f"{move.event['event']} to run {move.event['to']!r}"
    try:
        recorded = move.log.append_at(move.event, move.sequence)
    except SequenceTaken as err:
        raise RegistryError(f"{what} refused: another champion move landed first in the registry log "
                            f"({err.location}): move {err.sequence}, {describe(err.winner)}. Nothing changed: this "
                            "move was not recorded and the champion tag did not move. Review with `fraud models "
                            "history` and `fraud models list`, then re-run the command if it is still wanted") from err
    try:
        _tag_champion(move.target)
    except Exception as err:  # Metaflow tagging errors, OSError from the metadata store: recorded and raised
        raise _revert(move, recorded, err) from err
    return recorded


def _revert(move: Move, recorded: dict[str, Any], err: Exception) -> RegistryError:
    """Undo a recorded move whose tag change failed: tag back where it was, and a `revert` event in the log."""
    failure = f"{type(err).__name__}: {err}"
    tag_state = f"the tag is back on run {move.tag_before!r}"
    try:
        _tag_champion(move.tag_before)
    except Exception as again:  # reported in the message below, never hidden
        tag_state = (f"putting the tag back on run {move.tag_before!r} failed too ({type(again).__name__}: {again}), "
                     "so the tag and the log may disagree: check `fraud models list`")
    revert = {"event": "revert", "reverts": recorded["seq"], "at": _now(), "user": recorded["user"],
              "from": recorded["to"], "to": recorded["from"], "reason": f"moving the champion tag failed: {failure}",
              "error": failure}
    head = f"{recorded['event']} to run {recorded['to']!r} failed while moving the champion tag ({failure})"
    try:
        move.log.append(revert)
    except RegistryError as again:
        return RegistryError(f"{head}; recording its revert failed too ({again}). The log still shows move "
                             f"{recorded['seq']}; {tag_state}. Repair with `fraud models promote RUN_ID --force "
                             "--reason ...` once the log is reachable")
    return RegistryError(f"{head}. Move {recorded['seq']} is reverted in the log (a `revert` event) and "
                         f"{tag_state}. Fix the cause, then re-run the command")


def promote(run_id: str, reason: str, user: str | None = None, force: bool = False,
            resync: bool = False) -> dict[str, Any]:
    """Make `run_id` the champion (see `plan_promote` for the checks); return the recorded event."""
    return apply(plan_promote(run_id, reason, user=user, force=force, resync=resync))


def rollback(reason: str, user: str | None = None) -> dict[str, Any]:
    """Move the champion back to the one before it, as recorded in the log; return the recorded event."""
    return apply(plan_rollback(reason, user=user))


def champion_stack(events: list[dict[str, Any]] | None = None) -> list[str]:
    """Champions in order of promotion, with rolled-back ones popped; the last is the current one.

    Moves undone by a `revert` event are skipped; a promote of the run already on top does not push it twice.
    """
    events = history() if events is None else events
    reverted = {e.get("reverts") for e in events if e.get("event") == "revert"}
    stack: list[str] = []
    for e in events:
        if e.get("seq") is not None and e.get("seq") in reverted:
            continue
        if e.get("event") == "promote" and (not stack or stack[-1] != e["to"]):
            stack.append(e["to"])
        elif e.get("event") == "rollback" and stack:
            stack.pop()
    return stack


def _tag_champion(run_id: str | None) -> None:
    """Put `champion` on `run_id` alone (None: on no run). The new tag goes on before the old ones come off,
    so a failure part-way leaves the previous champion still tagged."""
    flow = train_flow()
    if run_id is not None:
        get_run(run_id).add_tag(CHAMPION)
    for run in flow.runs(CHAMPION):
        if str(run.id) != run_id:
            run.remove_tag(CHAMPION)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
