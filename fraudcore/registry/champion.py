"""The champion protocol: promote and roll back, each move recorded in an append-only log.

- There is one champion per environment (production, staging): the tag `champion` (production) or
  `champion:staging` on exactly one successful TrainFlow run (`lookup` reads it). Each environment has its own
  log, so their stacks and compare-and-set never mix. Records written before environments existed (the
  tag `champion`, the log without an `environment` field) are production's, unchanged.
- Every move (promote, rollback) is appended to an append-only log, one object per move with
  `event`, `at` (UTC), `user`, `from`, `to`, `reason` and `environment`. Tags say where the champion is; the
  log says how it got there, and rollback walks it back (a stack: promote pushes, a rollback pops back to
  its `to`). A rollback of the endpoint (`fraud deploy rollback`) is recorded as a `rollback` too, with
  `via: "endpoint"`, whichever run it returns to.

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
the `.metaflow` directory. Staging's log sits beside production's: `<file>-staging.jsonl`, or `<url>/staging/`. The storage itself (JSON Lines file, or one S3 object per event) is
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
from fraudcore.registry.lookup import (DEFAULT_ENVIRONMENT, GATE_PASSED, TRAIN_FLOW, champion_run_id, champion_tag,
                                       check_environment, datastore_root, gate_of, get_run, train_flow)

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


def _production_log_location() -> str:
    env = os.environ.get(LOG_ENV)
    if env:
        return env
    s3_root = _metaflow_s3_root()
    if s3_root:
        return s3_root.rstrip("/") + "/" + S3_LOG_DIR
    return str(datastore_root() / "fraud-registry" / "champion-events.jsonl")


def log_location(environment: str = DEFAULT_ENVIRONMENT) -> str:
    """Where `environment`'s champion moves are recorded: a file path or an s3:// URL (module doc)."""
    base = _production_log_location()
    if check_environment(environment) == DEFAULT_ENVIRONMENT:
        return base
    if is_s3_url(base):
        return base.rstrip("/") + f"/{environment}/"
    path = Path(base)
    return str(path.with_name(f"{path.stem}-{environment}{path.suffix or '.jsonl'}"))


def log_path(environment: str = DEFAULT_ENVIRONMENT) -> Path:
    """The local log file; RegistryError when the log is on S3 (use `log_location`)."""
    location = log_location(environment)
    if is_s3_url(location):
        raise RegistryError(f"the registry log is on S3 ({location}), not a local file")
    return Path(location)


def event_log(environment: str = DEFAULT_ENVIRONMENT) -> EventLog:
    return open_event_log(log_location(environment))


def history(environment: str = DEFAULT_ENVIRONMENT) -> list[dict[str, Any]]:
    """Every recorded champion move of `environment`, oldest first, as stored (an event without `environment`
    was written before environments existed, in production's log)."""
    return event_log(environment).read()


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
    environment: str = DEFAULT_ENVIRONMENT


def _read(log: EventLog, environment: str) -> tuple[LogState, list[str], str | None]:
    """The log's state, its stack and the tagged champion. The log first: an unreachable log (no bucket, no
    credentials) stops a move before anything else is looked at."""
    state = log.state()
    return state, champion_stack(list(state.events)), champion_run_id(environment)


def _refuse_disagreement(what: str, log: EventLog, state: LogState, tag: str | None, top: str | None) -> None:
    last = (f"move {state.events[-1].get('seq', len(state.events))}, {describe(state.events[-1])}" if state.events
            else "none recorded")
    raise RegistryError(f"{what} refused: the champion tag is on run {tag!r} but the registry log ({log.location}) "
                        f"says the champion is {top!r} (latest move: {last}). Someone moved the tag outside "
                        "`fraud models`, or that move is still tagging (then re-run in a few seconds). Check "
                        "`fraud models list` and `fraud models history`, then record where the champion belongs "
                        "with `fraud models promote RUN_ID --force --reason ...`")


def plan_promote(run_id: str, reason: str, user: str | None = None, force: bool = False,
                 resync: bool = False, environment: str = DEFAULT_ENVIRONMENT) -> Move:
    """The promote of `run_id`: it must have finished and passed its gate (`force` overrides the gate).

    The champion tag and the log's top of stack must agree; `resync` records the move anyway, bringing
    them back together after someone moved the tag by hand. The CLI's --force sets both; DeployFlow passes
    only `force` (for the gate), so an automated deploy never papers over a disagreement.
    """
    reason = _need_reason(reason, "promote")
    log = event_log(environment)
    state, stack, tag = _read(log, environment)
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
             "gate": gate, "forced": bool(force and gate != "passed"), "environment": environment}
    if top != tag:
        event["resynced"] = {"tag": tag, "log": top}
    return Move(log, state.next_sequence, event, rid, tag, environment)


def plan_rollback(reason: str, user: str | None = None, environment: str = DEFAULT_ENVIRONMENT) -> Move:
    """The move back to the champion before the current one, as the log's stack records it.

    No override: a rollback walks the log, so the log must be right first (promote with --force).
    """
    reason = _need_reason(reason, "rollback")
    log = event_log(environment)
    state, stack, tag = _read(log, environment)
    if tag is None:
        raise RegistryError(f"rollback needs a current champion; no run is tagged {champion_tag(environment)!r}")
    top = stack[-1] if stack else None
    if top != tag:
        _refuse_disagreement("rollback", log, state, tag, top)
    if len(stack) < 2:
        raise RegistryError(f"no earlier champion to roll back to: {tag!r} is the first recorded champion")
    target = str(get_run(stack[-2]).id)
    event = {"event": "rollback", "at": _now(), "user": who(user), "from": tag, "to": target, "reason": reason,
             "environment": environment}
    return Move(log, state.next_sequence, event, target, tag, environment)


def plan_endpoint_rollback(run_id: str, reason: str, user: str | None = None,
                           environment: str = DEFAULT_ENVIRONMENT) -> Move | None:
    """The champion following the endpoint back to `run_id` (`fraud deploy rollback`), recorded as a rollback.

    The endpoint has already moved, so the champion must follow it even if the tag and the log disagreed
    (that is recorded, as `resynced`); None when `run_id` is already the champion.
    """
    reason = _need_reason(reason, "rollback")
    log = event_log(environment)
    state, stack, tag = _read(log, environment)
    rid, top = str(get_run(run_id).id), stack[-1] if stack else None
    if top == tag == rid:
        return None
    event = {"event": "rollback", "via": "endpoint", "at": _now(), "user": who(user), "from": tag, "to": rid,
             "reason": reason, "environment": environment}
    if top != tag:
        event["resynced"] = {"tag": tag, "log": top}
    return Move(log, state.next_sequence, event, rid, tag, environment)


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
        _tag_champion(move.target, move.environment)
    except Exception as err:  # Metaflow tagging errors, OSError from the metadata store: recorded and raised
        raise _revert(move, recorded, err) from err
    return recorded


def _revert(move: Move, recorded: dict[str, Any], err: Exception) -> RegistryError:
    """Undo a recorded move whose tag change failed: tag back where it was, and a `revert` event in the log."""
    failure = f"{type(err).__name__}: {err}"
    tag_state = f"the tag is back on run {move.tag_before!r}"
    try:
        _tag_champion(move.tag_before, move.environment)
    except Exception as again:  # reported in the message below, never hidden
        tag_state = (f"putting the tag back on run {move.tag_before!r} failed too ({type(again).__name__}: {again}), "
                     "so the tag and the log may disagree: check `fraud models list`")
    revert = {"event": "revert", "reverts": recorded["seq"], "at": _now(), "user": recorded["user"],
              "from": recorded["to"], "to": recorded["from"], "reason": f"moving the champion tag failed: {failure}",
              "error": failure, "environment": move.environment}
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
            resync: bool = False, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Any]:
    """Make `run_id` the champion (see `plan_promote` for the checks); return the recorded event."""
    return apply(plan_promote(run_id, reason, user=user, force=force, resync=resync, environment=environment))


def rollback(reason: str, user: str | None = None, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Any]:
    """Move the champion back to the one before it, as recorded in the log; return the recorded event."""
    return apply(plan_rollback(reason, user=user, environment=environment))


def follow_endpoint_rollback(run_id: str, reason: str, user: str | None = None,
                             environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Any] | None:
    """Record the endpoint's rollback to `run_id` as a champion `rollback` and move the tag (None: no move)."""
    move = plan_endpoint_rollback(run_id, reason, user=user, environment=environment)
    return None if move is None else apply(move)


def champion_stack(events: list[dict[str, Any]] | None = None,
                   environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
    """Champions in order of promotion, rolled-back ones popped; the last is the current one.

    A rollback pops back to its `to` (one pop for `fraud models rollback`; an endpoint rollback may go
    further, and to a run the stack never held it is pushed). Moves undone by a `revert` event are skipped;
    a promote of the run already on top does not push it twice.
    """
    events = history(environment) if events is None else events
    reverted = {e.get("reverts") for e in events if e.get("event") == "revert"}
    stack: list[str] = []
    for e in events:
        if e.get("seq") is not None and e.get("seq") in reverted:
            continue
        if e.get("event") == "promote" and (not stack or stack[-1] != e["to"]):
            stack.append(e["to"])
        elif e.get("event") == "rollback" and stack:
            target = e.get("to")
            stack.pop()
            if target is not None and target in stack:
                while stack[-1] != target:
                    stack.pop()
            elif target is not None:
                stack.append(target)
    return stack


def _tag_champion(run_id: str | None, environment: str = DEFAULT_ENVIRONMENT) -> None:
    """Put the environment's champion tag on `run_id` alone (None: on no run). The new tag goes on before the
    old ones come off, so a failure part-way leaves the previous champion still tagged."""
    flow, tag = train_flow(), champion_tag(environment)
    if run_id is not None:
        get_run(run_id).add_tag(tag)
    for run in flow.runs(tag):
        if str(run.id) != run_id:
            run.remove_tag(tag)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
