"""A brute-force reference: for each target event, loop over the event log and apply each definition.

Written for clarity, not speed (quadratic); the property tests hold the engine to it. It follows the
same declarations and the same documented rules, stated once here in plain Python:
- an event at e counts for a target at t iff  t - window <= e < t - lag;
- a snapshot counts iff its time is strictly before t (the latest one wins);
- duplicate event ids keep the earliest (time, then row); duplicate entity keys keep the first row;
- rows whose key is null match nothing.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from fraudcore.features.calendars import holiday_days
from fraudcore.features.definitions import AggregateFeature, DerivedFeature, ReferenceFeature
from fraudcore.features.durations import NS_PER_DAY
from fraudcore.features.featureset import FeatureSet
from fraudcore.features.output import to_schema_frame
from fraudcore.features.partitions import month_of_ns

Row = dict[str, Any]


def _value(v: Any) -> Any:
    """pandas/numpy scalars -> plain Python; missing -> None."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return (v.tz_convert("UTC").tz_localize(None) if v.tzinfo else v).value
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else int(v.astype("datetime64[ns]").astype(np.int64))
    if isinstance(v, np.generic):
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    return v


def _rows(frame: pd.DataFrame) -> list[Row]:
    cols = list(frame.columns)
    return [{c: _value(v) for c, v in zip(cols, values)} for values in frame.itertuples(index=False, name=None)]


def _load(tables: Mapping[str, pd.DataFrame], fs: FeatureSet) -> dict[str, list[Row]]:
    out = {}
    for name, decl in fs.tables.tables.items():
        if name not in tables:
            continue
        rows = _rows(tables[name])
        for i, r in enumerate(rows):
            r["__row"] = i
        if decl.kind == "entity":
            seen, kept = set(), []
            for r in rows:
                if r[decl.key] not in seen:
                    seen.add(r[decl.key])
                    kept.append(r)
        else:
            rows.sort(key=lambda r: (r[decl.time], r["__row"]))
            ident = (lambda r: r[decl.id]) if decl.kind == "stream" else (lambda r: (r[decl.key], r[decl.time]))
            seen, kept = set(), []
            for r in rows:
                if ident(r) not in seen:
                    seen.add(ident(r))
                    kept.append(r)
        out[name] = kept
    return out


def _entity(fs: FeatureSet, data: dict[str, list[Row]], row: Row, table: str) -> Row | None:
    """Follow the refs from the target row to `table`; None when a link is missing."""
    current: Row | None = row
    for hop in fs.tables.path(fs.target, table):
        if current is None or current.get(hop.column) is None:
            return None
        key = fs.tables[hop.to].key
        current = next((e for e in data[hop.to] if e[key] == current[hop.column]), None)
    return current


def _derived(fs: FeatureSet, data: dict[str, list[Row]], row: Row, f: DerivedFeature, t: int,
             holidays: set[int]) -> Any:
    inputs = []
    for ref in f.inputs:
        source = row if ref.table == fs.target else _entity(fs, data, row, ref.table)
        inputs.append(None if source is None else source.get(ref.column))
    if f.function == "hour_of_day":
        return (t // (NS_PER_DAY // 24)) % 24
    if f.function == "day_of_week":
        return (t // NS_PER_DAY + 3) % 7
    if f.function == "is_holiday":
        return (t // NS_PER_DAY) in holidays
    if f.function == "days_since":
        return None if inputs[0] is None else max(0, (t - inputs[0]) // NS_PER_DAY)
    if f.function == "differs":
        a, b = inputs
        return a is not None and b is not None and str(a) != str(b)
    return inputs[0]


def _reference(fs: FeatureSet, data: dict[str, list[Row]], row: Row, f: ReferenceFeature, t: int) -> Any:
    snap = fs.tables[f.table]
    entity = _entity(fs, data, row, snap.refs[snap.key])
    key = None if entity is None else entity[fs.tables[snap.refs[snap.key]].key]
    best = None
    for s in data[f.table]:
        if key is not None and s[snap.key] == key and s[snap.time] < t:
            if best is None or s[snap.time] > best[snap.time]:
                best = s
    value = None
    if best is not None and (f.max_age_ns is None or t - best[snap.time] <= f.max_age_ns):
        value = best[f.column]
    return f.default if value is None else value


def _in_window(fs: FeatureSet, data, stream: str, keys, row: Row, t: int, window: int, lag: int) -> list[Row]:
    time = fs.tables[stream].time
    if any(row[k] is None for k in keys):
        return []
    return [e for e in data[stream]
            if all(e[k] == row[k] for k in keys) and t - window <= e[time] < t - lag]


def _aggregate(fs: FeatureSet, data, row: Row, f: AggregateFeature, t: int) -> Any:
    if f.null_without is not None:
        h = f.null_without
        if not _in_window(fs, data, h.stream, f.key, row, t, h.window_ns, 0):
            return None
    events = [e for e in _in_window(fs, data, f.stream, f.key, row, t, f.window_ns, f.lag_ns)
              if all(e[c.column] is not None and e[c.column] == c.value for c in f.filters)]
    values = [e[f.column] for e in events if e[f.column] is not None] if f.column else []
    if f.op == "count":
        result: Any = len(events)
    elif f.op == "exists":
        result = len(events) > 0
    elif f.op == "first_time":
        result = len(events) == 0
    elif f.op == "sum":
        result = math.fsum(values)
    elif f.op == "distinct_count":
        result = len(set(values))
    elif f.op == "last_seen":
        time = fs.tables[f.stream].time
        result = (t - max(e[time] for e in events)) / NS_PER_DAY if events else None
    elif not values:
        result = None
    elif f.op == "mean":
        result = math.fsum(values) / len(values)
    elif f.op == "std":
        mean = math.fsum(values) / len(values)
        result = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    else:
        result = min(values) if f.op == "min" else max(values)
    return f.default if result is None and f.default is not None else result


def reference_features(tables: Mapping[str, pd.DataFrame], fs: FeatureSet, cast: bool = True) -> pd.DataFrame:
    """Every feature of every (deduplicated) target event, by looping; rows ordered by (time, id)."""
    data = _load(tables, fs)
    target = fs.target_table
    out = []
    targets = sorted(data[fs.target], key=lambda r: (r[target.time], r[target.id]))
    years = ({int(month_of_ns(r[target.time])[:4]) for r in targets} or {1970})
    holidays = {}
    for f in fs.of_kind("derived"):
        if f.function == "is_holiday":
            holidays[f.name] = set(holiday_days(f.calendar or "", min(years), max(years)))
    for row in targets:
        t = row[target.time]
        result: Row = {c: row[c] for c in fs.output_columns if c not in fs.schema.feature_names}
        for f in fs.features:
            if f.kind in ("request", "vendor"):
                result[f.name] = row[f.column]
            elif f.kind == "derived":
                result[f.name] = _derived(fs, data, row, f, t, holidays.get(f.name, set()))
            elif f.kind == "reference":
                result[f.name] = _reference(fs, data, row, f, t)
            else:
                result[f.name] = _aggregate(fs, data, row, f, t)
        out.append(result)
    frame = pd.DataFrame(out, columns=list(fs.output_columns))
    return to_schema_frame(fs, frame) if cast else frame
