"""Request-time features: a checkout request plus the store's state -> the record the model scores.

The same rules as the offline engine (fraudcore/features/sql_*.py), applied to one request at its
event time t, and cast to the schema's dtypes the way training's frame was (float32 values, categories
outside the schema missing, non-nullable ints and bools 0/False when empty). Reads take `plan.rounds`
round trips: the first fetches everything the request's own ids reach; the next, what an entity row
read in the first points at (a card's BIN, a customer's email domain).

When the store fails (down, or past its budget) the features it would have supplied are returned
missing, and listed, so the server can answer `degraded` instead of failing or guessing.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from fraudcore.features.calendars import holiday_days
from fraudcore.features.definitions import AggregateFeature, DerivedFeature, ReferenceFeature
from fraudcore.features.durations import NS_PER_DAY, NS_PER_UNIT
from fraudcore.online.plan import OnlinePlan
from fraudcore.online.state import decode, group_arrays, to_ns
from fraudcore.online.store import Store, StoreUnavailable
from fraudcore.schema import Field

NS_PER_HOUR = NS_PER_UNIT["h"]


@dataclass(frozen=True)
class Enriched:
    record: dict[str, Any]          # id (if sent) and every schema feature, as the features form carries them
    missing: tuple[str, ...]        # features left missing because the store failed


def cast_value(f: Field, v: Any) -> Any:
    """One value as the offline frame holds it (fraudcore/features/output.py), in JSON types."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        if f.dtype == "bool" and not f.nullable:
            return False
        if f.dtype == "int" and not f.nullable:
            return 0
        return None
    if f.dtype == "category":
        s = str(v)
        return s if s in (f.categories or ()) else None
    if f.dtype == "bool":
        return bool(v)
    if f.dtype == "int":
        return int(v)
    if f.dtype == "float":
        return float(np.float32(v))
    return v


class OnlineFeatures:
    """Computes the schema features of checkout requests from a store, with the offline rules."""

    def __init__(self, plan: OnlinePlan, store: Store) -> None:
        self.plan, self.store, self.fs = plan, store, plan.fs
        self.fields = {f.name: f for f in self.fs.schema.features}
        self._holidays: dict[tuple[str, int], frozenset[int]] = {}
        self._depends = self._store_dependencies()
        self.last_error: str | None = None
        # lookups the request path would otherwise repeat per aggregate
        self._col = {(g.stream, g.key): {c: i for i, c in enumerate(g.columns)} for g in plan.groups}
        self._history = {(g.stream, g.key): g for g in plan.groups}
        self._entities_by_round: dict[int, list] = {}
        for e in plan.entities:
            self._entities_by_round.setdefault(e.round, []).append(e)
        self._snapshots_by_round: dict[int, list] = {}
        for sp in plan.snapshots:
            self._snapshots_by_round.setdefault(sp.round, []).append(sp)

    def _store_dependencies(self) -> dict[str, str]:
        """Feature -> what it needs from the store ('' when it needs nothing)."""
        out = {}
        for f in self.fs.features:
            if f.kind in ("request", "vendor"):
                out[f.name] = ""
            elif f.kind == "derived":
                out[f.name] = ",".join(r.table for r in f.inputs if r.table != self.fs.target)
            else:
                out[f.name] = f.kind
        return out

    def holidays(self, calendar: str, year: int) -> frozenset[int]:
        key = (calendar, year)
        if key not in self._holidays:
            self._holidays[key] = frozenset(holiday_days(calendar, year, year))
        return self._holidays[key]

    # ---- reads ---------------------------------------------------------------------------------
    def _fetch(self, requests: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        """Per request: state key -> decoded state, following refs round by round. False when the
        store failed (what was read before the failure is kept)."""
        plan = self.plan
        found: list[dict[str, Any]] = [{} for _ in requests]
        rows: list[dict[str, Any]] = [{plan.fs.target: r} for r in requests]
        for rnd in range(1, plan.rounds + 1):
            wanted: list[list[tuple[str, str | None]]] = []   # per request: (state key, entity table or None)
            unique: set[str] = set()
            for r, row in zip(requests, rows):
                keys: list[tuple[str, str | None]] = []
                if rnd == 1:
                    for g in plan.groups:
                        vals = tuple(r.get(k) for k in g.key)
                        if None not in vals:
                            keys.append((g.state_key(vals), None))
                for e in self._entities_by_round.get(rnd, ()):
                    src = row.get(e.chain[-1].table)
                    v = None if src is None else src.get(e.chain[-1].column)
                    if v is not None:
                        keys.append((f"e|{e.table}|{v}", e.table))
                for sp in self._snapshots_by_round.get(rnd, ()):
                    src = row.get(sp.chain[-1].table)
                    v = None if src is None else src.get(sp.chain[-1].column)
                    if v is not None:
                        keys.append((f"s|{sp.table}|{v}", None))
                wanted.append(keys)
                unique.update(k for k, _ in keys)
            if not unique:
                continue
            try:
                items = self.store.get_many(list(unique))
            except StoreUnavailable as err:
                self.last_error = str(err)
                return found, False
            decoded = {k: _group(it[0]) if k[0] == "a" else decode(it[0]) for k, it in items.items()}
            for i, keys in enumerate(wanted):
                got = found[i]
                for key, table in keys:
                    value = decoded.get(key)
                    got[key] = value
                    if table is not None:
                        rows[i][table] = value
        return found, True

    # ---- compute -------------------------------------------------------------------------------
    def compute_without_store(self, requests: Sequence[dict[str, Any]]) -> list[Enriched]:
        return [self._one(r, {}, False) for r in requests]

    def compute(self, requests: Sequence[dict[str, Any]]) -> list[Enriched]:
        """The features of each checkout request (already checked for its time and ids)."""
        found, ok = self._fetch(requests)
        out = []
        for r, states in zip(requests, found):
            out.append(self._one(r, states, ok))
        return out

    def _one(self, r: dict[str, Any], states: dict[str, Any], ok: bool) -> Enriched:
        plan, fs = self.plan, self.fs
        t = to_ns(r[plan.time_column], plan.time_column)
        rows: dict[str, dict | None] = {fs.target: r}
        for e in plan.entities:
            hop = e.chain[-1]
            src = rows.get(hop.table)
            v = None if src is None else src.get(hop.column)
            rows[e.table] = None if v is None else states.get(e.state_key(v))
        values: dict[str, Any] = {}
        for s in plan.snapshots:
            hop = s.chain[-1]
            src = rows.get(hop.table)
            key = None if src is None or rows.get(s.entity) is None else src.get(hop.column)
            state = None if key is None else states.get(s.state_key(key))
            for f in s.features:
                values[f.name] = self._reference(f, s.columns, state, t)
        for g in plan.groups:
            vals = tuple(r.get(k) for k in g.key)
            state = states.get(g.state_key(vals)) if all(v is not None for v in vals) else None
            spans: dict[tuple[int, int], tuple[int, int]] = {}
            index = self._col[(g.stream, g.key)]
            for f in g.aggregates:
                values[f.name] = self._aggregate(f, index, state, t, (states, r, spans))
        missing = []
        record: dict[str, Any] = {}
        if r.get(plan.id_column) is not None:
            record[plan.id_column] = r[plan.id_column]
        for f in fs.features:
            if not ok and self._depends[f.name]:
                missing.append(f.name)
                record[f.name] = None
                continue
            if f.kind in ("request", "vendor"):
                if f.column in r:       # as the caller sent it; the schema check names a bad or absent one
                    record[f.name] = r[f.column]
                continue
            if f.kind == "derived":
                v = self._derived(f, rows, t)
            else:
                v = values[f.name]
            record[f.name] = cast_value(self.fields[f.name], v)
        return Enriched(record, tuple(missing))

    def _derived(self, f: DerivedFeature, rows: dict[str, dict | None], t: int) -> Any:
        if f.function == "hour_of_day":
            return (t // NS_PER_HOUR) % 24
        if f.function == "day_of_week":
            return (t // NS_PER_DAY + 3) % 7
        if f.function == "is_holiday":
            day = t // NS_PER_DAY
            year = 1970 + int(day // 365.2425)
            return any(day in self.holidays(f.calendar or "", y) for y in (year - 1, year, year + 1))
        inputs = []
        for ref in f.inputs:
            row = rows.get(ref.table)
            inputs.append(None if row is None else row.get(ref.column))
        if f.function == "days_since":
            x = inputs[0]
            return None if x is None else max(0, (t - to_ns(x, str(f.inputs[0]))) // NS_PER_DAY)
        if f.function == "differs":
            a, b = inputs
            return a is not None and b is not None and str(a) != str(b)
        return inputs[0]

    @staticmethod
    def _reference(f: ReferenceFeature, columns: tuple[str, ...], state: Any, t: int) -> Any:
        value = None
        if state is not None and state["t"]:
            i = bisect.bisect_left(state["t"], t) - 1     # the latest snapshot strictly before t
            if i >= 0 and (f.max_age_ns is None or t - state["t"][i] <= f.max_age_ns):
                value = state["v"][columns.index(f.column)][i]
        return f.default if value is None else value

    def _aggregate(self, f: AggregateFeature, index: dict[str, int], state: Any, t: int, ctx: tuple) -> Any:
        """The engine's window rule over a group's arrays: events with  t - window <= e < t - lag."""
        states, r, spans = ctx
        if f.null_without is not None:
            h = f.null_without
            g = self._history[(h.stream, f.key)]
            vals = tuple(r.get(k) for k in f.key)
            hist = states.get(g.state_key(vals)) if all(v is not None for v in vals) else None
            if hist is None or _empty(hist[0], t - h.window_ns, t):
                return None
        if state is None:
            times, cols, lo, hi = _NO_TIMES, [], 0, 0
        else:
            times, cols = state
            bounds = (t - f.window_ns, t - f.lag_ns)
            span = spans.get(bounds)
            if span is None:
                span = spans[bounds] = _span(times, *bounds)
            lo, hi = span
        mask = None
        if state is not None and hi > lo:
            for c in f.filters:
                col = cols[index[c.column]][lo:hi]
                if isinstance(col, np.ndarray):
                    m = col == c.value                # NaN (missing) never equals: excluded, as a null
                else:
                    m = np.array([v is not None and v == c.value for v in col], dtype=bool)
                mask = m if mask is None else mask & m
        n = (hi - lo) if mask is None else int(mask.sum())
        op = f.op
        if op == "count":
            result: Any = n
        elif op == "exists":
            result = n > 0
        elif op == "first_time":
            result = n == 0
        elif op == "last_seen":
            if n:
                last = int(times[hi - 1]) if mask is None else int(times[lo:hi][mask][-1])
                result = (t - last) / NS_PER_DAY
            else:
                result = None
        elif n == 0:
            result = _value_op(op, [])
        else:
            col = cols[index[f.column]][lo:hi]
            if isinstance(col, np.ndarray):
                v = col if mask is None else col[mask]
                values = v.tolist()
                if v.dtype.kind == "f" and np.isnan(v).any():
                    values = [x for x in values if x == x]
            else:
                picked = col if mask is None else [x for x, keep in zip(col, mask) if keep]
                values = [x for x in picked if x is not None]
            result = _value_op(op, values)
        return f.default if result is None and f.default is not None else result


_NO_TIMES = np.zeros(0, dtype=np.int64)


def _group(raw: bytes) -> tuple[np.ndarray, list[Any]]:
    t, cols, _ = group_arrays(raw)
    return t, cols


def _value_op(op: str, values: list[Any]) -> Any:
    if op == "sum":
        return math.fsum(values)
    if op == "distinct_count":
        return len(set(values))
    if not values:
        return None
    if op == "mean":
        return math.fsum(values) / len(values)
    if op == "std":
        mean = math.fsum(values) / len(values)
        return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    return min(values) if op == "min" else max(values)


def _span(times: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Indices of the events with  start <= e < end."""
    lo, hi = times.searchsorted(start), times.searchsorted(end)
    return int(lo), int(hi)


def _empty(times: np.ndarray, start: int, end: int) -> bool:
    lo, hi = _span(times, start, end)
    return hi <= lo
