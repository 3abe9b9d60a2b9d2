"""Ingestion: events -> window state, snapshots and entity rows in the store.

- Authorisations (the scored transaction, after it is scored: a request's own features never include
  it, since they count only events strictly before its time), logins, outcome labels: appended to
  the window state of every (stream, key) group that reads them.
- Reference snapshots: kept per key (the recent ones, and the latest before the lateness horizon).
- Entity rows (a new customer, card, merchant): upserted.

Idempotent by event id (a duplicate keeps the earliest time, as the offline engine's dedup), and by
(key, time) for snapshots. An event older than the watermark (the latest event time applied) minus
`lateness` is late: counted, and kept with its reason in the rejects file, never silently dropped.
Writes are compare-and-set per key; a lost race re-reads and re-applies only the keys that lost.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import orjson

from fraudcore.online.plan import OnlinePlan
from fraudcore.online.sources import BadLine, Event
from fraudcore.online.state import EventFieldError, add_event, add_snapshot, decode, encode, to_ns
from fraudcore.online.store import Put, Store, StoreConflict

WATERMARK_KEY = "m|watermark"
_RETRIES = 5


@dataclass
class IngestStats:
    applied: int = 0                   # events that changed the store
    duplicates: int = 0                # already applied (same id) or past every window: no change
    late: int = 0                      # older than the watermark minus the lateness
    rejected: int = 0                  # unreadable events (reasons in the rejects file), late included
    ignored: int = 0                   # tables no feature reads
    conflicts: int = 0                 # compare-and-set retries
    by_stream: Counter = field(default_factory=Counter)
    watermark_ns: int = 0
    last_event_wall_s: float = 0.0

    def lag_s(self, now_s: float | None = None) -> float | None:
        """How far behind real time the latest applied event is (event time to now)."""
        if not self.watermark_ns:
            return None
        return (time.time() if now_s is None else now_s) - self.watermark_ns / 1e9

    def to_dict(self) -> dict[str, Any]:
        lag = self.lag_s()
        return {"applied": self.applied, "duplicates": self.duplicates, "late": self.late,
                "rejected": self.rejected, "ignored": self.ignored, "conflicts": self.conflicts,
                "by_stream": dict(self.by_stream), "watermark_ns": self.watermark_ns,
                "lag_s": None if lag is None else round(lag, 3)}


class Ingestor:
    """Applies batches of events to a store under `plan`'s rules."""

    def __init__(self, plan: OnlinePlan, store: Store, lateness_ns: int, rejects: str | Path | BinaryIO | None = None,
                 expire: bool = True) -> None:
        """`rejects`: a JSONL file appended to, or an open binary stream (the service's standard error,
        which its log group keeps)."""
        self.plan, self.store, self.lateness_ns, self.expire = plan, store, lateness_ns, expire
        if isinstance(rejects, str):
            rejects = Path(rejects) if rejects else None
        self.rejects: Path | BinaryIO | None = rejects
        self.stats = IngestStats()
        self._streams = plan.streams()
        self._snapshots = {s.table: s for s in plan.snapshots}
        self._entities = {e.table: e for e in plan.entities}
        tables = plan.fs.tables.tables
        self._known = set(tables)
        self._max_retention = max([g.retention_ns for g in plan.groups] + [0])
        item = store.get_many([WATERMARK_KEY]).get(WATERMARK_KEY)
        self.stats.watermark_ns = int(item.value) if item else 0
        self._watermark_version = item.version if item else 0

    # ---- per-event updates ---------------------------------------------------------------------
    def _updates(self, ev: Event) -> list[tuple[str, str, tuple]]:
        """(state key, kind, payload) for one event; raises EventFieldError for an unreadable one."""
        tables = self.plan.fs.tables
        table = tables[ev.stream]
        rec = ev.record
        out: list[tuple[str, str, tuple]] = []
        if table.kind == "stream":
            t = to_ns(rec.get(table.time), f"{ev.stream}.{table.time}")
            eid = rec.get(table.id)
            if eid is None:
                raise EventFieldError(f"{ev.stream}.{table.id}", "required", f"field '{ev.stream}.{table.id}' "
                                      "(the event id) is required", None)
            for g in self._streams.get(ev.stream, ()):
                vals = tuple(rec.get(k) for k in g.key)
                if any(v is None for v in vals):
                    continue
                values = [_json_value(rec.get(c)) for c in g.columns]
                out.append((g.state_key(vals), "a", (t, eid, values, g.retention_ns)))
        elif table.kind == "snapshot":
            s = self._snapshots.get(ev.stream)
            t = to_ns(rec.get(table.time), f"{ev.stream}.{table.time}")
            key = rec.get(table.key)
            if s is not None and key is not None:
                out.append((s.state_key(key), "s", (t, [_json_value(rec.get(c)) for c in s.columns])))
        else:
            e = self._entities.get(ev.stream)
            key = rec.get(table.key)
            if key is None:
                raise EventFieldError(f"{ev.stream}.{table.key}", "required",
                                      f"field '{ev.stream}.{table.key}' (the entity key) is required", None)
            if e is not None:
                row = {c: _entity_value(tables[ev.stream].columns.get(c), rec.get(c), f"{ev.stream}.{c}")
                       for c in e.columns}
                out.append((e.state_key(key), "e", (row,)))
        return out

    def _event_time(self, ev: Event) -> int | None:
        table = self.plan.fs.tables[ev.stream]
        return to_ns(ev.record.get(table.time), f"{ev.stream}.{table.time}") if table.time else None

    # ---- batches ---------------------------------------------------------------------------------
    def apply(self, batch: Sequence[Event | BadLine]) -> IngestStats:
        """Apply a batch (in order); the store is written once per key touched."""
        rejects: list[dict[str, Any]] = []
        work: list[tuple[Event, list[tuple[str, str, tuple]]]] = []
        late: list[tuple[Event, list[tuple[str, str, tuple]]]] = []
        watermark = self.stats.watermark_ns
        for ev in batch:
            if isinstance(ev, BadLine):
                rejects.append({"position": ev.position, "reason": ev.reason, "raw": ev.raw})
                continue
            if ev.stream not in self._known:
                rejects.append({"position": ev.position, "stream": ev.stream, "rule": "unknown_table",
                                "reason": f"no table {ev.stream!r} in events.toml", "record": ev.record})
                continue
            try:
                t = self._event_time(ev)
                updates = self._updates(ev)
                if t is not None and watermark and t < watermark - self.lateness_ns:
                    late.append((ev, updates))
                    continue
            except EventFieldError as err:
                rejects.append({"position": ev.position, "stream": ev.stream, "field": err.field, "rule": err.rule,
                                "reason": str(err), "record": ev.record})
                continue
            if t is not None:
                watermark = max(watermark, t)
            if not updates:
                self.stats.ignored += 1
                continue
            work.append((ev, updates))
        for ev, is_duplicate in self._late(late):
            if is_duplicate:       # a redelivery of an event already applied: not late, just seen
                self.stats.duplicates += 1
                continue
            self.stats.late += 1
            rejects.append({"position": ev.position, "stream": ev.stream, "rule": "late",
                            "reason": f"event time is more than the allowed lateness "
                                      f"({self.lateness_ns / 1e9:g} s) before the watermark {watermark}",
                            "record": ev.record})
        work = self._dedupe(work)
        changed = self._write(work, watermark)
        for ev, updates in work:
            if changed.get(id(ev)):
                self.stats.applied += 1
                self.stats.by_stream[ev.stream] += 1
            else:
                self.stats.duplicates += 1
        self.stats.rejected += len(rejects)
        if rejects and self.rejects is not None:
            lines = b"".join(orjson.dumps({"at": time.time(), **r}, default=str) + b"\n" for r in rejects)
            if isinstance(self.rejects, Path):
                self.rejects.parent.mkdir(parents=True, exist_ok=True)
                with self.rejects.open("ab") as fh:
                    fh.write(lines)
            else:
                self.rejects.write(lines)
                self.rejects.flush()
        self.stats.watermark_ns = watermark
        return self.stats

    def _late(self, late: list[tuple[Event, list[tuple[str, str, tuple]]]]) -> list[tuple[Event, bool]]:
        """Each late event, and whether the store already holds it (same id, or same snapshot time)."""
        keys = sorted({k for _, ups in late for k, kind, _ in ups if kind != "e"})
        states = {k: decode(it.value) for k, it in self.store.get_many(keys).items()} if keys else {}
        out = []
        for ev, ups in late:
            # held by any group: every group of an event is written together, and a short window's
            # group may already have dropped it
            seen = False
            for key, kind, payload in ups:
                st = states.get(key)
                if kind == "a":
                    seen = seen or (st is not None and payload[1] in st["id"])
                elif kind == "s":
                    seen = seen or (st is not None and payload[0] in st["t"])
            out.append((ev, seen))
        return out

    def _dedupe(self, work: list[tuple[Event, list[tuple[str, str, tuple]]]]
                ) -> list[tuple[Event, list[tuple[str, str, tuple]]]]:
        """One event per id and stream, the earliest, as the engine keeps it: each stream event's id is
        recorded (`i|stream|id`, with the group keys it went to) for as long as its longest window. A
        repeat at the same or a later time is dropped, whatever its keys; an earlier one replaces it."""
        tables = self.plan.fs.tables
        ids: dict[int, str] = {}
        for n, (ev, ups) in enumerate(work):
            if tables[ev.stream].kind == "stream" and ups:
                ids[n] = f"i|{ev.stream}|{ev.record[tables[ev.stream].id]}"
        if not ids:
            return work
        seen = {k: decode(it.value) for k, it in self.store.get_many(sorted(set(ids.values()))).items()}
        out = []
        for n, (ev, ups) in enumerate(work):
            key = ids.get(n)
            if key is None:
                out.append((ev, ups))
                continue
            t = ups[0][2][0]
            eid = ups[0][2][1]
            prior = seen.get(key)
            if prior is not None and prior["t"] <= t:
                out.append((ev, []))                      # a repeat: nothing to apply
                continue
            extra = [(k, "r", (eid,)) for k in (prior["k"] if prior else [])]
            record = {"t": t, "k": [k for k, _, _ in ups]}
            seen[key] = record
            out.append((ev, extra + ups + [(key, "i", (record,))]))
        return out

    def _write(self, work: list[tuple[Event, list[tuple[str, str, tuple]]]], watermark: int) -> dict[int, bool]:
        keys = sorted({k for _, ups in work for k, _, _ in ups})
        changed: dict[int, bool] = {}
        pending = set(keys)
        for attempt in range(_RETRIES + 1):
            items = self.store.get_many(sorted(pending) + [WATERMARK_KEY])
            wm_item = items.pop(WATERMARK_KEY, None)
            stored_wm = int(wm_item.value) if wm_item else 0
            mark = max(watermark, stored_wm)
            states = {k: decode(items[k].value) if k in items else None for k in pending}
            dirty: set[str] = set()
            for ev, ups in work:
                for key, kind, payload in ups:
                    if key not in pending:
                        continue
                    if _apply_one(states, key, kind, payload, mark, self.lateness_ns):
                        dirty.add(key)
                        changed[id(ev)] = True
            puts = [Put(k, encode(states[k]), self._expiry(states[k], k),
                        items[k].version if k in items else 0) for k in sorted(dirty)]
            if mark != stored_wm:
                puts.append(Put(WATERMARK_KEY, str(mark).encode(), 0, wm_item.version if wm_item else 0))
            try:
                self.store.put_many(puts)
                return changed
            except StoreConflict as err:
                self.stats.conflicts += 1
                lost = set(err.keys)
                if attempt == _RETRIES:
                    raise
                pending = lost - {WATERMARK_KEY}
                if WATERMARK_KEY in lost and not pending:
                    watermark = mark
                    pending = set()
                    items = self.store.get_many([WATERMARK_KEY])
                    item = items.get(WATERMARK_KEY)
                    if item is None or int(item.value) >= mark:
                        return changed
                    self.store.put_many([Put(WATERMARK_KEY, str(mark).encode(), 0, item.version)])
                    return changed
        return changed

    def _expiry(self, state: Any, key: str) -> int:
        if not self.expire or key.startswith("e|"):
            return 0
        if key.startswith("i|"):
            return int((state["t"] + self._max_retention + self.lateness_ns) // 1_000_000_000) + 1
        times = state.get("t") if isinstance(state, dict) else None
        if not times:
            return 0
        if key.startswith("a|"):
            keep = self._max_retention
        else:   # the latest snapshot stays readable until every feature reading it has aged it out
            table = key.split("|", 2)[1]
            ages = [f.max_age_ns for f in self._snapshots[table].features]
            if any(a is None for a in ages):
                return 0
            keep = max(ages)
        return int((times[-1] + keep + self.lateness_ns) // 1_000_000_000) + 1


def _apply_one(states: dict[str, Any], key: str, kind: str, payload: tuple, watermark: int, lateness: int) -> bool:
    if kind == "i":
        states[key] = payload[0]
        return True
    if kind == "r":            # an earlier event with the same id replaces this one
        state = states.get(key)
        if not state or payload[0] not in state["id"]:
            return False
        j = state["id"].index(payload[0])
        for lst in (state["t"], state["id"], *state["v"]):
            del lst[j]
        return True
    if kind == "e":
        row = payload[0]
        if states.get(key) == row:
            return False
        states[key] = row
        return True
    if kind == "a":
        t, eid, values, retention = payload
        state = states.get(key) or {"t": [], "id": [], "v": []}
        states[key] = state
        return add_event(state, t, eid, values, watermark - lateness - retention)
    t, values = payload
    state = states.get(key) or {"t": [], "v": []}
    states[key] = state
    return add_snapshot(state, t, values, watermark - lateness)


def _json_value(v: Any) -> Any:
    return None if isinstance(v, float) and v != v else v   # NaN is missing, as null is


def _entity_value(dtype: str | None, v: Any, field: str) -> Any:
    if v is None:
        return None
    if dtype == "timestamp":
        return to_ns(v, field)
    return v

