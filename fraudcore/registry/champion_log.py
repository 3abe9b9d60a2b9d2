"""The champion-move log's storage: a local JSON Lines file, or one S3 object per event.

Both backends hold the same event objects and give them back oldest first; `fraudcore.registry.champion` decides
what goes in them and walks them as a stack. Which backend is used follows from one location string:
an `s3://bucket/prefix` URL, or a file path.

Why one S3 object per event: S3 has no append, and rewriting one shared object (read, add a line, put)
loses a move whenever two people promote at the same time. Instead event N is the object
`<prefix>/events/<N, 9 digits>.json`, written with `If-None-Match: *`, so S3 itself refuses a second
writer of the same number (412 PreconditionFailed, or 409 ConditionalRequestConflict while the first
write is still in flight). Keys sort in the order the moves happened, and a listing of the prefix is the
whole log.

A champion move is a compare-and-set on the log: `state()` gives the events and the number the next one
must take, the caller decides the move from that state, and `append_at(event, n)` records it only if `n`
is still free (S3: the conditional put of exactly that key; local file: flock held while the file is
re-read, its event count checked and the line written). If another move landed first, `SequenceTaken`
names it and nothing is written. `append` (the next free number, retried) is for events that must land
whatever came before, such as a revert of a move whose tag change failed.

boto3 is imported only when an S3 log is used: importing fraudcore stays light.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Protocol, TypeVar

from fraudcore.registry import RegistryError

SEQUENCE_DIGITS = 9
APPEND_ATTEMPTS = 10
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")  # 412, and 409 for a write still in flight
_T = TypeVar("_T")


class SequenceTaken(RegistryError):
    """`append_at(event, n)` found move `n` already recorded by someone else; nothing was written."""

    def __init__(self, location: str, sequence: int, winner: dict[str, Any] | None) -> None:
        self.location, self.sequence, self.winner = location, sequence, winner
        super().__init__(f"registry log {location}: move {sequence} was already recorded by another writer: "
                         f"{describe(winner)}")


def describe(event: dict[str, Any] | None) -> str:
    """One line a person can act on: what the event did, who did it, when and why."""
    if event is None:
        return "(its record was still being written; run `fraud models history` in a moment)"
    what = f"{event.get('event', '?')} {event.get('from')!r} -> {event.get('to')!r}"
    return (f"{what} by {event.get('user', '?')} at {event.get('at', '?')} "
            f"(reason: {event.get('reason', '')!r})")


@dataclass(frozen=True)
class LogState:
    """The log as one reader saw it: every event, oldest first, and the number the next one must take."""

    events: tuple[dict[str, Any], ...]
    next_sequence: int


class EventLog(Protocol):
    """Append-only storage of champion moves."""

    @property
    def location(self) -> str: ...

    def read(self) -> list[dict[str, Any]]:
        """Every event, oldest first."""

    def state(self) -> LogState:
        """Every event and the number the next move must take (reaching the log, or RegistryError)."""

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Record `event` after every event already in the log; return it."""

    def append_at(self, event: dict[str, Any], sequence: int) -> dict[str, Any]:
        """Record `event` as move `sequence` (stored with `seq`) only if that is still the next number.

        Raises SequenceTaken, writing nothing, when another move took it first; returns the stored event.
        """


def is_s3_url(location: str) -> bool:
    return location.startswith("s3://")


def open_event_log(location: str) -> EventLog:
    return S3EventLog.from_url(location) if is_s3_url(location) else LocalEventLog(Path(location))


@dataclass(frozen=True)
class LocalEventLog:
    """A JSON Lines file on this machine; appends are serialised with flock."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with open(self.path, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)  # never a half-written last line: writers hold LOCK_EX
            try:
                return self._parse(fh.read())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def state(self) -> LogState:
        events = self.read()
        return LogState(tuple(events), len(events) + 1)

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._locked() as fh:
            self._write(fh, event)
        return event

    def append_at(self, event: dict[str, Any], sequence: int) -> dict[str, Any]:
        record = {**event, "seq": sequence}
        with self._locked() as fh:  # the lock is held from the re-read to the write: nobody appends between
            fh.seek(0)
            events = self._parse(fh.read())
            if len(events) + 1 != sequence:
                winner = events[sequence - 1] if 0 < sequence <= len(events) else None
                raise SequenceTaken(self.location, sequence, winner)
            self._write(fh, record)
        return record

    @contextmanager
    def _locked(self) -> Iterator[IO[str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _write(fh: IO[str], event: dict[str, Any]) -> None:
        fh.write(json.dumps(event, sort_keys=True) + "\n")  # "a+" mode: always at the end of the file
        fh.flush()
        os.fsync(fh.fileno())

    def _parse(self, text: str) -> list[dict[str, Any]]:
        events = []
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except ValueError as err:
                    raise RegistryError(f"registry log {self.path} line {i} is not JSON: {err}") from err
        return events


@dataclass(frozen=True)
class S3EventLog:
    """`s3://bucket/prefix/events/000000001.json`, `...002.json`, ...: one object per event (see module doc).

    The client comes from its own boto3 session (endpoint from AWS_ENDPOINT_URL, like `deploy/`), so
    several logs can be used from several threads.
    """

    bucket: str
    prefix: str = ""
    attempts: int = APPEND_ATTEMPTS
    _client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str) -> S3EventLog:
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise RegistryError(f"registry log {url!r}: an S3 log must be s3://BUCKET[/PREFIX]; no bucket given")
        return cls(bucket=bucket, prefix=prefix.strip("/"))

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"

    @property
    def events_prefix(self) -> str:
        return f"{self.prefix}/events/" if self.prefix else "events/"

    def key_of(self, sequence: int) -> str:
        return f"{self.events_prefix}{sequence:0{SEQUENCE_DIGITS}d}.json"

    def read(self) -> list[dict[str, Any]]:
        return list(self.state().events)

    def state(self) -> LogState:
        taken = self._sequence()
        return LogState(tuple(self._read_event(key) for _, key in taken), taken[-1][0] + 1 if taken else 1)

    def append_at(self, event: dict[str, Any], sequence: int) -> dict[str, Any]:
        """The conditional put of exactly `sequence`'s key: no retry at a later number (see module doc)."""
        record = {**event, "seq": sequence}
        if not self._put_new(sequence, record):
            raise SequenceTaken(self.location, sequence, self._winner(self.key_of(sequence)))
        return record

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        tried: list[int] = []
        for _ in range(self.attempts):
            taken = self._sequence()
            tried.append(taken[-1][0] + 1 if taken else 1)
            if self._put_new(tried[-1], event):
                return event
        raise RegistryError(f"registry log {self.location}: could not record the move after {self.attempts} "
                            f"attempts: sequence numbers {tried} were each taken by another writer first. "
                            "Run `fraud models history`, then repeat the command if the event is missing")

    def _put_new(self, sequence: int, event: dict[str, Any]) -> bool:
        """Write `event` as object `sequence` only if that key is free: False when another writer has it."""
        from botocore.exceptions import ClientError

        key = self.key_of(sequence)
        try:
            self._call(f"put {key}", lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=json.dumps(event, sort_keys=True).encode(),
                ContentType="application/json", IfNoneMatch="*"), passthrough=_TAKEN)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in _TAKEN:
                raise
            return False
        return True

    def _winner(self, key: str) -> dict[str, Any] | None:
        """The event that took `key`, or None while its write is still in flight (409)."""
        from botocore.exceptions import ClientError

        try:
            return self._read_event(key, passthrough=("NoSuchKey",))
        except ClientError:
            return None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError as err:
                raise RegistryError(f"registry log {self.location} is on S3, which needs boto3 "
                                    "(pip install boto3), or set FRAUD_REGISTRY_LOG to a local file") from err
            object.__setattr__(self, "_client", boto3.session.Session().client("s3"))
        return self._client

    def _sequence(self) -> list[tuple[int, str]]:
        """(sequence number, key) of every event object, in order."""
        pattern = re.compile(re.escape(self.events_prefix) + r"(\d{%d})\.json" % SEQUENCE_DIGITS)

        def list_keys() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self.events_prefix)
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

        found = []
        for key in self._call("list", list_keys):
            match = pattern.fullmatch(key)
            if not match:
                raise RegistryError(f"registry log object s3://{self.bucket}/{key}: not an event key (expected "
                                    f"{self.events_prefix}<{SEQUENCE_DIGITS} digits>.json); move it out of the prefix")
            found.append((int(match.group(1)), key))
        return sorted(found)

    def _read_event(self, key: str, passthrough: tuple[str, ...] = ()) -> dict[str, Any]:
        where = f"registry event s3://{self.bucket}/{key}"
        raw = self._call(f"get {key}", lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(),
                         passthrough=passthrough)
        try:
            event = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise RegistryError(f"{where} is not UTF-8 text: {err}") from err
        except ValueError as err:
            raise RegistryError(f"{where} is not JSON: {err}; got {raw[:80]!r}") from err
        if not isinstance(event, dict):
            raise RegistryError(f"{where} must be a JSON object (one champion move); got {type(event).__name__}")
        return event

    def _call(self, what: str, fn: Callable[[], _T], passthrough: tuple[str, ...] = ()) -> _T:
        """Run one S3 request; turn what boto raises into a RegistryError that says what to fix."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        where = f"registry log {self.location} ({what})"
        try:
            return fn()
        except (NoCredentialsError, PartialCredentialsError) as err:
            raise RegistryError(f"{where}: no usable AWS credentials ({err}). Configure them (AWS_PROFILE, "
                                "aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or set "
                                "FRAUD_REGISTRY_LOG to a local file") from err
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in passthrough:
                raise
            if code == "NoSuchBucket":
                raise RegistryError(f"{where}: bucket {self.bucket!r} does not exist. Create it, or fix "
                                    "FRAUD_REGISTRY_LOG / METAFLOW_DATASTORE_SYSROOT_S3") from err
            message = err.response.get("Error", {}).get("Message", str(err))
            raise RegistryError(f"{where}: S3 refused the request: {code or 'error'}: {message}") from err
        except BotoCoreError as err:
            raise RegistryError(f"{where}: could not reach S3: {err}") from err
