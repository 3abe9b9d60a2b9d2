"""Read the scoring server's capture (docs/contracts.md) into frames, counting every line it cannot use.

A capture is written by many workers, shipped by a log pipeline and sometimes cut short by a crash, so
bad lines are expected: a truncated last line, a record from an older server, a hand-edited file. Each
one is counted by reason and quoted (file, line, what was wrong) in the report; none stops the run.
The records that pass become two frames: scored transactions (raw input columns plus score, decision,
latency, time) and failures (reason, field, status, latency, time).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from fraudcore.errors import FraudError
from fraudcore.schema import Schema
from fraudcore.thresholds import DECISIONS

_DATE_DIR = re.compile(r"(?:^|/)(\d{4}-\d{2}-\d{2})/")
_BASE_KEYS = {"request_id": str, "time": str, "model_version": str, "status": str}


class CaptureError(FraudError, ValueError):
    """A capture location that cannot be read at all (as opposed to bad lines inside it)."""


@dataclass(frozen=True)
class BadLine:
    source: str
    line: int
    reason: str
    detail: str


@dataclass
class CaptureWindow:
    """The usable records of a capture plus the account of what was not usable."""

    scored: pd.DataFrame              # one row per scored transaction: meta columns + raw input fields
    failures: pd.DataFrame            # time, latency_ms, http_status, rule, field, model_version
    files: int = 0
    lines: int = 0
    bad_counts: dict[str, int] = field(default_factory=dict)
    bad_examples: list[BadLine] = field(default_factory=list)
    out_of_window: int = 0

    @property
    def bad_lines(self) -> int:
        return int(sum(self.bad_counts.values()))

    def summary(self) -> dict[str, Any]:
        return {"files": self.files, "lines": self.lines, "scored": int(len(self.scored)),
                "failures": int(len(self.failures)), "bad_lines": self.bad_lines,
                "bad_line_rate": self.bad_lines / self.lines if self.lines else 0.0,
                "bad_by_reason": dict(sorted(self.bad_counts.items())), "out_of_window": self.out_of_window,
                "bad_examples": [vars(b) for b in self.bad_examples]}


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def parse_time(value: str) -> datetime:
    """ISO-8601 (a trailing Z allowed) to an aware UTC datetime."""
    t = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_KINDS = {"category": "str", "bool": "bool"}


def input_checks(schema: Schema) -> tuple[tuple[str, str, bool, str], ...]:
    """(name, kind, nullable, dtype) per feature, computed once per read rather than once per line."""
    return tuple((f.name, _KINDS.get(f.dtype, "number"), f.nullable, f.dtype) for f in schema.features)


def _check_input(checks: tuple[tuple[str, str, bool, str], ...], raw: Any) -> None:
    if not isinstance(raw, dict):
        raise _Invalid("wrong_schema", f"'input' must be an object; got {type(raw).__name__}")
    for name, kind, nullable, dtype in checks:
        v = raw.get(name)
        if v is None:
            if not nullable and name not in raw:
                raise _Invalid("wrong_schema", f"input field {name!r} is absent and not nullable")
            continue
        t = type(v)
        if kind == "number":
            ok = (t is int or t is float) and (t is int or math.isfinite(v))
        elif kind == "str":
            ok = t is str
        else:
            ok = t is bool or (t is int and v in (0, 1))
        if not ok:
            raise _Invalid("wrong_schema", f"input field {name!r} must be {dtype}; got {t.__name__} {v!r}")


def _validate(rec: Any, checks: tuple[tuple[str, str, bool, str], ...]) -> dict[str, Any]:
    """The record if it follows the contract, else _Invalid naming the key and the rule."""
    if not isinstance(rec, dict):
        raise _Invalid("not_an_object", f"a record must be a JSON object; got {type(rec).__name__}")
    for key, typ in _BASE_KEYS.items():
        if key not in rec:
            raise _Invalid("wrong_schema", f"key {key!r} is missing")
        if not isinstance(rec[key], typ):
            raise _Invalid("wrong_schema", f"key {key!r} must be a string; got {type(rec[key]).__name__}")
    try:
        rec["_t"] = parse_time(rec["time"])
    except ValueError as err:
        raise _Invalid("wrong_schema", f"key 'time' must be ISO-8601; got {rec['time']!r}") from err
    lat = rec.get("latency_ms")
    if not _is_number(lat) or lat < 0:
        raise _Invalid("wrong_schema", f"key 'latency_ms' must be a number >= 0; got {lat!r}")
    if rec["status"] == "ok":
        tid = rec.get("transaction_id")
        if not isinstance(tid, int) or isinstance(tid, bool):
            raise _Invalid("wrong_schema", f"key 'transaction_id' must be an integer; got {tid!r}")
        score = rec.get("score")
        if not _is_number(score) or not 0.0 <= score <= 1.0:
            raise _Invalid("wrong_schema", f"key 'score' must be a number in [0, 1]; got {score!r}")
        if rec.get("decision") not in DECISIONS:
            raise _Invalid("wrong_schema", f"key 'decision' must be one of {DECISIONS}; got {rec.get('decision')!r}")
        _check_input(checks, rec.get("input"))
    elif rec["status"] == "error":
        err = rec.get("error")
        if not isinstance(err, dict):
            raise _Invalid("wrong_schema", f"an error record needs an 'error' object; got {err!r}")
        status = rec.get("http_status")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise _Invalid("wrong_schema", f"key 'http_status' must be an HTTP error status; got {status!r}")
    else:
        raise _Invalid("wrong_schema", f"key 'status' must be 'ok' or 'error'; got {rec['status']!r}")
    return rec


def parse_lines(lines: Iterable[bytes], source: str, sink: _Sink) -> None:
    """Parse one file's lines into `sink`; the last line without a newline is the 'truncated' suspect."""
    buffered = list(lines)
    for i, line in enumerate(buffered, start=1):
        sink.lines += 1
        stripped = line.strip()
        if not stripped:
            sink.lines -= 1  # blank lines (e.g. a trailing newline) are not records
            continue
        try:
            rec = orjson.loads(stripped)
        except orjson.JSONDecodeError as err:
            last = i == len(buffered) and not line.endswith(b"\n")
            sink.bad(source, i, "truncated" if last else "invalid_json", str(err))
            continue
        try:
            sink.add(_validate(rec, sink.checks))
        except _Invalid as bad:
            sink.bad(source, i, bad.reason, bad.detail)


class _Sink:
    def __init__(self, schema: Schema, start: datetime | None, end: datetime | None, max_examples: int) -> None:
        self.schema, self.start, self.end, self.max_examples = schema, start, end, max_examples
        self.checks = input_checks(schema)
        self.ok: list[dict[str, Any]] = []
        self.err: list[dict[str, Any]] = []
        self.lines = 0
        self.out_of_window = 0
        self.counts: Counter[str] = Counter()
        self.examples: list[BadLine] = []

    def bad(self, source: str, line: int, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(BadLine(source, line, reason, detail[:300]))

    def add(self, rec: dict[str, Any]) -> None:
        t = rec["_t"]
        if (self.start is not None and t < self.start) or (self.end is not None and t >= self.end):
            self.out_of_window += 1
            return
        (self.ok if rec["status"] == "ok" else self.err).append(rec)

    def window(self, files: int) -> CaptureWindow:
        names = self.schema.feature_names
        meta = {
            "request_id": [r["request_id"] for r in self.ok],
            "transaction_id": np.array([r["transaction_id"] for r in self.ok], dtype=np.int64),
            "time": pd.to_datetime([r["_t"] for r in self.ok], utc=True),
            "model_version": [r["model_version"] for r in self.ok],
            "score": np.array([r["score"] for r in self.ok], dtype=np.float64),
            "decision": [r["decision"] for r in self.ok],
            "latency_ms": np.array([r["latency_ms"] for r in self.ok], dtype=np.float64),
        }
        inputs = pd.DataFrame.from_records([r["input"] for r in self.ok], columns=list(names))
        scored = pd.concat([pd.DataFrame(meta), inputs], axis=1)
        failures = pd.DataFrame({
            "time": pd.to_datetime([r["_t"] for r in self.err], utc=True),
            "model_version": [r["model_version"] for r in self.err],
            "latency_ms": np.array([r["latency_ms"] for r in self.err], dtype=np.float64),
            "http_status": np.array([r["http_status"] for r in self.err], dtype=np.int64),
            "rule": [str(r["error"].get("rule") or f"http_{r['http_status']}") for r in self.err],
            "field": [None if r["error"].get("field") is None else str(r["error"]["field"]) for r in self.err],
        })
        return CaptureWindow(scored.sort_values("time", kind="stable").reset_index(drop=True),
                             failures.sort_values("time", kind="stable").reset_index(drop=True), files=files,
                             lines=self.lines, bad_counts=dict(self.counts), bad_examples=self.examples,
                             out_of_window=self.out_of_window)


def _date_of(path: str) -> str | None:
    m = _DATE_DIR.search(path)
    return m.group(1) if m else None


def _wanted(path: str, start: datetime | None, end: datetime | None) -> bool:
    """Skip files whose capture/<YYYY-MM-DD>/ folder lies wholly outside [start, end)."""
    day = _date_of(path)
    if day is None:
        return True
    if start is not None and day < start.strftime("%Y-%m-%d"):
        return False
    return not (end is not None and day > end.strftime("%Y-%m-%d"))


def _local_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise CaptureError(f"capture location {root} does not exist (expected a folder of *.jsonl files or s3://...)")
    return sorted(p for p in root.rglob("*.jsonl") if p.is_file())


def _s3_objects(uri: str) -> Iterator[tuple[str, Any]]:
    """(key, client) for every *.jsonl object under an s3://bucket/prefix (endpoint from AWS_ENDPOINT_URL)."""
    import boto3

    bucket, _, prefix = uri[len("s3://"):].partition("/")
    if not bucket:
        raise CaptureError(f"capture location {uri!r} must look like s3://bucket/prefix")
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".jsonl"):
                yield obj["Key"], s3


def read_capture(location: str | Path, schema: Schema, start: datetime | None = None, end: datetime | None = None,
                 max_bad_examples: int = 20) -> CaptureWindow:
    """Every record in [start, end) under a local folder (or file) or an s3://bucket/prefix."""
    sink = _Sink(schema, start, end, max_bad_examples)
    files = 0
    loc = str(location)
    if loc.startswith("s3://"):
        bucket = loc[len("s3://"):].partition("/")[0]
        for key, s3 in _s3_objects(loc):
            if not _wanted(key, start, end):
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            parse_lines(body.splitlines(keepends=True), f"s3://{bucket}/{key}", sink)
            files += 1
    else:
        for path in _local_files(Path(loc)):
            rel = path.as_posix()
            if not _wanted(rel, start, end):
                continue
            with open(path, "rb") as fh:
                parse_lines(fh, rel, sink)
            files += 1
    return sink.window(files)
