"""Window state as stored: per (stream, key) the events inside the longest window; per snapshot key the
recent snapshots; per entity key its row. Encoded with orjson, columnar, so a read decodes a few lists.

Group state:    {"t": [ns...], "id": [...], "v": [[col1...], [col2...]]}   sorted by time, stored binary:
                times and numeric columns as little-endian arrays a reader maps with numpy without
                parsing (a busy merchant's 30 days are thousands of events), ids and text columns as JSON
Snapshot state: {"t": [ns...], "v": [[col1...], ...]}                     sorted by time
Entity state:   {"col": value, ...}

The rules are the offline engine's (fraudcore/features/reference.py states them in plain Python):
an event at e counts for a request at t iff  t - window <= e < t - lag; the latest snapshot strictly
before t wins; a duplicate event id keeps the earliest time.
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
import struct
from typing import Any

import numpy as np
import orjson

from fraudcore.errors import FraudError


class EventFieldError(FraudError):
    """An event or request field that cannot be read; names the field, the rule and the value."""

    def __init__(self, field: str, rule: str, message: str, received: Any = None) -> None:
        self.field, self.rule, self.received = field, rule, received
        super().__init__(message)


def to_ns(value: Any, field: str) -> int:
    """Epoch nanoseconds from an int (ns), an ISO-8601 string (naive = UTC) or a datetime."""
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            d = dt.datetime.fromisoformat(value)
        except ValueError:
            raise EventFieldError(field, "timestamp", f"field '{field}' must be an ISO-8601 time or epoch "
                                  f"nanoseconds; got {value[:80]!r}", value) from None
        if d.tzinfo is None:
            d = d.replace(tzinfo=dt.timezone.utc)
        delta = d - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if isinstance(value, dt.datetime):
        return to_ns(value.isoformat(), field)
    raise EventFieldError(field, "timestamp", f"field '{field}' must be an ISO-8601 time or epoch nanoseconds; "
                          f"got {type(value).__name__} {value!r}", value)


_GROUP = b"\x00G"          # binary group state; anything else is JSON
_HEAD = struct.Struct("<IH")


def _numeric(values: list[Any]) -> bool:
    return all(v is None or (type(v) in (int, float, bool) and (type(v) is not int or abs(v) < 2**53))
               for v in values)


def _encode_group(state: dict[str, Any]) -> bytes:
    n, cols = len(state["t"]), state["v"]
    kinds = bytes(b"f"[0] if _numeric(c) else b"j"[0] for c in cols)
    parts = [_GROUP, _HEAD.pack(n, len(cols)), kinds, np.asarray(state["t"], dtype="<i8").tobytes()]
    texts = [orjson.dumps(state["id"])]
    for kind, col in zip(kinds, cols):
        if kind == b"f"[0]:
            parts.append(np.array([math.nan if v is None else float(v) for v in col], dtype="<f8").tobytes())
        else:
            texts.append(orjson.dumps(col))
    parts += [struct.pack("<I", len(x)) + x for x in texts]
    return b"".join(parts)


def group_arrays(raw: bytes) -> tuple[np.ndarray, list[Any], int]:
    """A reader's view of a group state: times (int64), each column (float64 with NaN for missing, or a
    list for a text column); ids are not parsed. Also the offset where the JSON sections start."""
    n, ncols = _HEAD.unpack_from(raw, 2)
    pos = 2 + _HEAD.size
    kinds = raw[pos:pos + ncols]
    pos += ncols
    t = np.frombuffer(raw, dtype="<i8", count=n, offset=pos)
    pos += 8 * n
    cols: list[Any] = []
    for kind in kinds:
        if kind == b"f"[0]:
            cols.append(np.frombuffer(raw, dtype="<f8", count=n, offset=pos))
            pos += 8 * n
        else:
            cols.append(None)
    text = pos
    size = struct.unpack_from("<I", raw, pos)[0]    # the ids
    pos += 4 + size
    for i, kind in enumerate(kinds):
        if kind != b"f"[0]:
            size = struct.unpack_from("<I", raw, pos)[0]
            cols[i] = orjson.loads(raw[pos + 4:pos + 4 + size])
            pos += 4 + size
    return t, cols, text


def _decode_group(raw: bytes) -> dict[str, Any]:
    t, cols, text = group_arrays(raw)
    size = struct.unpack_from("<I", raw, text)[0]
    ids = orjson.loads(raw[text + 4:text + 4 + size])
    out = []
    for col in cols:
        if isinstance(col, np.ndarray):
            out.append([None if v != v else v for v in col.tolist()])
        else:
            out.append(col)
    return {"t": t.tolist(), "id": ids, "v": out}


def decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    if raw[:2] == _GROUP:
        return _decode_group(raw)
    return orjson.loads(raw)


def encode(state: Any) -> bytes:
    if isinstance(state, dict) and state.keys() == {"t", "id", "v"}:
        return _encode_group(state)
    return orjson.dumps(state)


def add_event(state: dict[str, Any], t: int, eid: Any, values: list[Any], horizon: int) -> bool:
    """Insert one event (kept sorted by time); drop events older than `horizon`. False if nothing changed
    (a duplicate id at the same or an earlier time, or an event already past the horizon)."""
    times, ids, cols = state["t"], state["id"], state["v"]
    if not cols:
        cols.extend([] for _ in values)
    if t < horizon:
        return False
    if eid in ids:
        j = ids.index(eid)
        if times[j] <= t:
            return False          # a duplicate keeps the earliest time
        for lst in (times, ids, *cols):
            del lst[j]
    i = bisect.bisect_right(times, t)
    times.insert(i, t)
    ids.insert(i, eid)
    for col, v in zip(cols, values):
        col.insert(i, v)
    cut = bisect.bisect_left(times, horizon)
    if cut:
        for lst in (times, ids, *cols):
            del lst[:cut]
    return True


def add_snapshot(state: dict[str, Any], t: int, values: list[Any], horizon: int) -> bool:
    """Insert a snapshot; keep those at or after `horizon` and the latest one before it."""
    times, cols = state["t"], state["v"]
    if not cols:
        cols.extend([] for _ in values)
    i = bisect.bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return False              # one snapshot per (key, time): the first wins
    before = bisect.bisect_left(times, horizon)
    if t < horizon and before > 0 and times[before - 1] > t:
        return False              # an older snapshot than one already past the horizon: never read
    times.insert(i, t)
    for col, v in zip(cols, values):
        col.insert(i, v)
    keep_from = max(0, bisect.bisect_left(times, horizon) - 1)
    if keep_from:
        for lst in (times, *cols):
            del lst[:keep_from]
    return True
