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
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from fraudcore.features.calendars import holiday_days
from fraudcore.features.definitions import AggregateFeature, DerivedFeature
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


# Above this many values a window's sum is numpy's pairwise sum instead of math.fsum: a busy merchant's
# 30 days are thousands of amounts, and fsum over a list of them cost 200 us. Pairwise summation's
# relative error (~1e-15 at these sizes) is 10^8 times below the float32 step the model sees, and the
# replay benchmark counts any value it changes (benchmarks/online_replay.py).
EXACT_SUM_MAX = 64

_COUNT, _EXISTS, _FIRST, _LAST, _SUM, _DISTINCT, _MEAN, _STD, _MIN, _MAX = range(10)
_OPS = {"count": _COUNT, "exists": _EXISTS, "first_time": _FIRST, "last_seen": _LAST, "sum": _SUM,
        "distinct_count": _DISTINCT, "mean": _MEAN, "std": _STD, "min": _MIN, "max": _MAX}


@dataclass(frozen=True)
class _Agg:
    """An aggregate compiled for the request path: its op as a code, columns as indexes."""
    name: str
    op: int
    window_ns: int
    lag_ns: int
    column: int                                  # index into the group's columns (-1: none)
    filters: tuple[tuple[int, Any], ...]         # (column index, value)
    history: tuple[int, int] | None              # null_without: (index of its group, window)
    default: Any


@dataclass(frozen=True)
class _Group:
    prefix: str                                  # state key up to the key values
    key: tuple[str, ...]
    aggregates: tuple[_Agg, ...]


def _caster(f: Field) -> Any:
    """`cast_value` specialised to one field (the request path casts ~50 values per request); the
    property test holds it to `cast_value` on every dtype."""
    if f.dtype == "float":
        f32 = np.float32

        def cast_float(v: Any) -> Any:
            return None if v is None or v != v else float(f32(v))
        return cast_float
    if f.dtype == "int" and not f.nullable:
        def cast_count(v: Any) -> Any:
            return 0 if v is None or v != v else int(v)
        return cast_count
    if f.dtype == "bool" and not f.nullable:
        def cast_flag(v: Any) -> Any:
            return False if v is None or v != v else bool(v)
        return cast_flag
    if f.dtype == "category":
        allowed = frozenset(f.categories or ())

        def cast_category(v: Any) -> Any:
            if v is None or v != v:
                return None
            v = v if type(v) is str else str(v)
            return v if v in allowed else None
        return cast_category
    return lambda v: cast_value(f, v)


class OnlineFeatures:
    """Computes the schema features of checkout requests from a store, with the offline rules."""

    def __init__(self, plan: OnlinePlan, store: Store) -> None:
        self.plan, self.store, self.fs = plan, store, plan.fs
        self.fields = {f.name: f for f in self.fs.schema.features}
        self._holidays: dict[tuple[str, int], frozenset[int]] = {}
        self.last_error: str | None = None
        self.last_read_s = 0.0          # time the last compute() spent in store reads
        target = self.fs.target
        self._target = target
        # every lookup the request path would otherwise repeat, resolved once
        groups = {(g.stream, g.key): i for i, g in enumerate(plan.groups)}
        self._groups = tuple(
            _Group(g.state_key(()), g.key, tuple(self._compile(f, g, groups) for f in g.aggregates))
            for g in plan.groups)
        self._entities = tuple((e.table, e.chain[-1].table, e.chain[-1].column, f"e|{e.table}|", e.round)
                               for e in plan.entities)
        self._snapshots = tuple(
            (s.chain[-1].table, s.chain[-1].column, s.entity, f"s|{s.table}|", s.round,
             tuple((f.name, s.columns.index(f.column), f.max_age_ns, f.default) for f in s.features))
            for s in plan.snapshots)
        self._by_round = {rnd: ([e for e in self._entities if e[4] == rnd],
                                [sp for sp in self._snapshots if sp[4] == rnd])
                          for rnd in range(1, plan.rounds + 1)}
        outputs = []
        for f in self.fs.features:
            if f.kind in ("request", "vendor"):
                outputs.append((f.name, 0, f.column, None, False))
            else:
                depends = (f.kind != "derived" or any(r.table != target for r in f.inputs))
                spec = self._derived_fn(f) if f.kind == "derived" else None
                outputs.append((f.name, 1 if f.kind == "derived" else 2, spec, _caster(self.fields[f.name]), depends))
        self._outputs = tuple(outputs)

    @staticmethod
    def _compile(f: AggregateFeature, g: Any, groups: dict) -> _Agg:
        index = {c: i for i, c in enumerate(g.columns)}
        history = None
        if f.null_without is not None:
            history = (groups[(f.null_without.stream, f.key)], f.null_without.window_ns)
        return _Agg(f.name, _OPS[f.op], f.window_ns, f.lag_ns, index[f.column] if f.column else -1,
                    tuple((index[c.column], c.value) for c in f.filters), history, f.default)

    def holidays(self, calendar: str, year: int) -> frozenset[int]:
        key = (calendar, year)
        if key not in self._holidays:
            self._holidays[key] = frozenset(holiday_days(calendar, year, year))
        return self._holidays[key]

    # ---- reads ---------------------------------------------------------------------------------
    def _group_keys(self, r: dict[str, Any]) -> list[str | None]:
        out: list[str | None] = []
        for g in self._groups:
            if len(g.key) == 1:
                v = r.get(g.key[0])
                out.append(None if v is None else g.prefix + str(v))
            else:
                vals = [r.get(k) for k in g.key]
                out.append(None if None in vals else g.prefix + "|".join(map(str, vals)))
        return out

    def _fetch(self, requests: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[list], bool]:
        """Per request: state key -> decoded state, following refs round by round, and the request's
        group keys. False when the store failed (what was read before the failure is kept)."""
        found: list[dict[str, Any]] = [{} for _ in requests]
        gkeys = [self._group_keys(r) for r in requests]
        rows: list[dict[str, Any]] = [{self._target: r} for r in requests]
        for rnd, (entities, snapshots) in self._by_round.items():
            wanted: list[list[tuple[str, str | None]]] = []   # per request: (state key, entity table or None)
            unique: set[str] = set()
            for i, row in enumerate(rows):
                keys: list[tuple[str, str | None]] = []
                if rnd == 1:
                    keys += [(k, None) for k in gkeys[i] if k is not None]
                for table, hop_table, hop_col, prefix, _ in entities:
                    src = row.get(hop_table)
                    v = None if src is None else src.get(hop_col)
                    if v is not None:
                        keys.append((prefix + str(v), table))
                for hop_table, hop_col, _, prefix, _, _ in snapshots:
                    src = row.get(hop_table)
                    v = None if src is None else src.get(hop_col)
                    if v is not None:
                        keys.append((prefix + str(v), None))
                wanted.append(keys)
                unique.update(k for k, _ in keys)
            if not unique:
                continue
            t0 = time.perf_counter()
            try:
                items = self.store.get_many(list(unique))
            except StoreUnavailable as err:
                self.last_error = str(err)
                return found, gkeys, False
            finally:
                self.last_read_s += time.perf_counter() - t0
            decoded = {k: _group(it[0]) if k[0] == "a" else decode(it[0]) for k, it in items.items()}
            for i, keys in enumerate(wanted):
                got = found[i]
                for key, table in keys:
                    value = decoded.get(key)
                    got[key] = value
                    if table is not None:
                        rows[i][table] = value
        return found, gkeys, True

    # ---- compute -------------------------------------------------------------------------------
    def compute_without_store(self, requests: Sequence[dict[str, Any]]) -> list[Enriched]:
        return [self._one(r, {}, self._group_keys(r), False) for r in requests]

    def compute(self, requests: Sequence[dict[str, Any]]) -> list[Enriched]:
        """The features of each checkout request (already checked for its time and ids)."""
        self.last_read_s = 0.0
        found, gkeys, ok = self._fetch(requests)
        return [self._one(r, states, keys, ok) for r, states, keys in zip(requests, found, gkeys)]

    def _one(self, r: dict[str, Any], states: dict[str, Any], gkeys: list, ok: bool) -> Enriched:
        t = to_ns(r[self.plan.time_column], self.plan.time_column)
        rows: dict[str, dict | None] = {self._target: r}
        for table, hop_table, hop_col, prefix, _ in self._entities:
            src = rows.get(hop_table)
            v = None if src is None else src.get(hop_col)
            rows[table] = None if v is None else states.get(prefix + str(v))
        values: dict[str, Any] = {}
        for hop_table, hop_col, entity, prefix, _, feats in self._snapshots:
            src = rows.get(hop_table)
            key = None if src is None or rows.get(entity) is None else src.get(hop_col)
            state = None if key is None else states.get(prefix + str(key))
            for name, col, max_age, default in feats:
                values[name] = _reference(col, max_age, default, state, t)
        group_states = [None if k is None else states.get(k) for k in gkeys]
        for g, state in zip(self._groups, group_states):
            _aggregates(g.aggregates, state, group_states, t, values)
        missing = []
        record: dict[str, Any] = {}
        if r.get(self.plan.id_column) is not None:
            record[self.plan.id_column] = r[self.plan.id_column]
        for name, mode, spec, cast, depends in self._outputs:
            if not ok and depends:
                missing.append(name)
                record[name] = None
            elif mode == 0:
                if spec in r:       # as the caller sent it; the schema check names a bad or absent one
                    record[name] = r[spec]
            elif mode == 2:
                record[name] = cast(values[name])
            else:
                record[name] = cast(spec(rows, t))
        return Enriched(record, tuple(missing))

    def _derived_fn(self, f: DerivedFeature) -> Any:
        """The request-path function of a derived feature: (rows, t) -> value."""
        if f.function == "hour_of_day":
            return lambda rows, t: (t // NS_PER_HOUR) % 24
        if f.function == "day_of_week":
            return lambda rows, t: (t // NS_PER_DAY + 3) % 7
        if f.function == "is_holiday":
            calendar = f.calendar or ""

            def is_holiday(rows: Any, t: int) -> bool:
                day = t // NS_PER_DAY
                year = 1970 + int(day // 365.2425)
                return any(day in self.holidays(calendar, y) for y in (year - 1, year, year + 1))
            return is_holiday
        refs = tuple((r.table, r.column) for r in f.inputs)

        def inputs(rows: dict[str, dict | None]) -> list[Any]:
            return [None if rows.get(table) is None else rows[table].get(column) for table, column in refs]
        if f.function == "days_since":          # one timestamp input (featureset.py checks the arity)
            label = str(f.inputs[0])

            def days_since(rows: Any, t: int) -> Any:
                x = inputs(rows)[0]
                return None if x is None else max(0, (t - to_ns(x, label)) // NS_PER_DAY)
            return days_since
        if f.function == "differs":

            def differs(rows: Any, t: int) -> bool:
                a, b = inputs(rows)
                return a is not None and b is not None and str(a) != str(b)
            return differs
        return lambda rows, t: inputs(rows)[0]   # lookup


def _reference(col: int, max_age: int | None, default: Any, state: Any, t: int) -> Any:
    """The latest snapshot strictly before t (no older than max_age), else the default."""
    value = None
    if state is not None and state["t"]:
        i = bisect.bisect_left(state["t"], t) - 1
        if i >= 0 and (max_age is None or t - state["t"][i] <= max_age):
            value = state["v"][col][i]
    return default if value is None else value


def _aggregates(aggs: tuple[_Agg, ...], state: Any, group_states: list, t: int, values: dict[str, Any]) -> None:
    """The engine's window rule over one group's arrays, for each of its aggregates:
    events with  t - window <= e < t - lag."""
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for a in aggs:
        if a.history is not None:
            hist = group_states[a.history[0]]
            if hist is None or _empty(hist[0], t - a.history[1], t):
                values[a.name] = None
                continue
        op = a.op
        if state is None:
            n = 0
        else:
            times, cols = state
            bounds = (t - a.window_ns, t - a.lag_ns)
            span = spans.get(bounds)
            if span is None:
                span = spans[bounds] = _span(times, *bounds)
            lo, hi = span
            mask = None
            if hi > lo:
                for c, value in a.filters:
                    col = cols[c][lo:hi]
                    if isinstance(col, np.ndarray):
                        m = col == value                # NaN (missing) never equals: excluded, as a null
                    else:
                        m = np.array([v is not None and v == value for v in col], dtype=bool)
                    mask = m if mask is None else mask & m
            n = max(0, hi - lo) if mask is None else int(np.count_nonzero(mask))
        if op == _COUNT:
            result: Any = n
        elif op == _EXISTS:
            result = n > 0
        elif op == _FIRST:
            result = n == 0
        elif op == _LAST:
            if n:
                last = int(times[hi - 1]) if mask is None else int(times[lo:hi][mask][-1])
                result = (t - last) / NS_PER_DAY
            else:
                result = None
        elif n == 0:
            result = 0.0 if op == _SUM else 0 if op == _DISTINCT else None
        else:
            col = cols[a.column][lo:hi]
            if isinstance(col, np.ndarray):
                v = col if mask is None else col[mask]
                if np.isnan(v).any():
                    v = v[~np.isnan(v)]
                result = _numeric_op(op, v)
            else:
                picked = col if mask is None else [x for x, keep in zip(col, mask) if keep]
                result = _value_op(op, [x for x in picked if x is not None])
        values[a.name] = a.default if result is None and a.default is not None else result


def _numeric_op(op: int, v: np.ndarray) -> Any:
    """A value op over a float64 array without missing values (fsum when small, see EXACT_SUM_MAX)."""
    n = len(v)
    if op == _DISTINCT:
        return len(set(v.tolist()))
    if n == 0:
        return 0.0 if op == _SUM else None
    if op == _MIN:
        return float(v.min())
    if op == _MAX:
        return float(v.max())
    if n > EXACT_SUM_MAX:
        total = float(v.sum())
        if op == _SUM:
            return total
        mean = total / n
        if op == _MEAN:
            return mean
        d = v - mean
        return math.sqrt(float(d @ d) / n)
    return _value_op(op, v.tolist())


def _group(raw: bytes) -> tuple[np.ndarray, list[Any]]:
    t, cols, _ = group_arrays(raw)
    return t, cols


def _value_op(op: int, values: list[Any]) -> Any:
    if op == _SUM:
        return math.fsum(values)
    if op == _DISTINCT:
        return len(set(values))
    if not values:
        return None
    if op == _MEAN:
        return math.fsum(values) / len(values)
    if op == _STD:
        mean = math.fsum(values) / len(values)
        return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    return min(values) if op == _MIN else max(values)


def _span(times: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Indices of the events with  start <= e < end."""
    lo, hi = times.searchsorted(start), times.searchsorted(end)
    return int(lo), int(hi)


def _empty(times: np.ndarray, start: int, end: int) -> bool:
    lo, hi = _span(times, start, end)
    return hi <= lo
