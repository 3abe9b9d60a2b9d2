"""Replay: the event log of a period through ingestion and request-time enrichment, in time order,
compared with the offline engine's features for the same transactions (issue 15's exactness check).

Each target event (an authorisation) is first sent as a checkout request, so its features see only
what was ingested before it, then ingested itself. Other events are ingested as they come. The
comparison is value by value after the schema's casts; every difference is classified:
- `float_rounding`: both are numbers within one float32 step of each other (the two engines add in a
  different order: DuckDB's window sums against math.fsum);
- `unexplained`: anything else. The exactness test requires none.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from fraudcore.features.engine import compute_features
from fraudcore.features.events import EventLog
from fraudcore.features.partitions import month_of_ns
from fraudcore.online.bulk import _files, _q
from fraudcore.online.ingest import Ingestor
from fraudcore.online.plan import OnlinePlan
from fraudcore.online.sources import Event
from fraudcore.schema import Field

Enrich = Callable[[dict[str, Any]], dict[str, Any]]   # checkout request -> the computed feature record


def read_events(plan: OnlinePlan, log: EventLog, start_ns: int, end_ns: int) -> list[Event]:
    """Every stream and snapshot event the plan reads with start <= time < end, in time order (a stable
    sort: equal times keep table then file order)."""
    tables = plan.fs.tables
    names = sorted({g.stream for g in plan.groups} | {s.table for s in plan.snapshots} | {plan.fs.target})
    con = duckdb.connect()
    con.execute("SET threads = 1")
    out: list[tuple[int, int, Event]] = []
    for n, name in enumerate(names):
        t = tables[name]
        cols = list(t.columns)
        files = _files(log, name, start_ns, end_ns)
        if not files:
            continue
        exprs = ", ".join(f"epoch_ns({_q(c)})" if t.columns[c] == "timestamp" else _q(c) for c in cols)
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        rows = con.execute(f"SELECT {exprs} FROM read_parquet([{listing}], union_by_name = true) "
                           f"WHERE {_q(t.time)} >= make_timestamp_ns({start_ns}) AND "
                           f"{_q(t.time)} < make_timestamp_ns({end_ns})").fetchall()
        ti = cols.index(t.time)
        for i, row in enumerate(rows):   # NaN is how parquet floats say missing; JSON says null
            rec = {c: None if v != v else v for c, v in zip(cols, row)}
            out.append((row[ti], n, Event(name, rec, f"{name}:{i}")))
    con.close()
    out.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in out]


def checkout_request(plan: OnlinePlan, record: dict[str, Any]) -> dict[str, Any]:
    return {c: record.get(c) for c in plan.checkout_fields}


@dataclass
class ReplayResult:
    requests: int = 0
    values: int = 0
    identical: int = 0
    differences: Counter = field(default_factory=Counter)           # reason -> count
    by_feature: Counter = field(default_factory=Counter)            # feature -> differing values
    examples: list[dict[str, Any]] = field(default_factory=list)
    missing_rows: int = 0                                            # offline rows the replay never scored

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "values_compared": self.values,
                "identical": self.identical,
                "identical_share": self.identical / self.values if self.values else None,
                "differences": dict(self.differences), "differences_by_feature": dict(self.by_feature),
                "examples": self.examples[:20], "missing_rows": self.missing_rows}


def replay(plan: OnlinePlan, ingestor: Ingestor, events: list[Event], enrich: Enrich,
           progress: Callable[[int, int], None] | None = None) -> dict[Any, dict[str, Any]]:
    """Send each target event as a checkout request, then ingest it; returns id -> computed record."""
    served: dict[Any, dict[str, Any]] = {}
    pending: list[Event] = []
    target, id_col = plan.fs.target, plan.id_column
    for i, ev in enumerate(events):
        if ev.stream == target:
            if pending:
                ingestor.apply(pending)
                pending = []
            tid = ev.record[id_col]
            if tid not in served:          # a repeated event id keeps its earliest event (the engine's rule)
                served[tid] = enrich(checkout_request(plan, ev.record))
            if progress is not None and i % 2000 == 0:
                progress(i, len(events))
        pending.append(ev)
    if pending:
        ingestor.apply(pending)
    return served


def canonical(f: Field, v: Any) -> Any:
    """A value as training's frame holds it, comparable across the two engines."""
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return None
    if f.dtype == "category":
        return str(v)
    if f.dtype == "bool":
        return bool(v)
    if f.dtype in ("float", "int"):
        return float(np.float32(v))
    return v


def compare(plan: OnlinePlan, served: dict[Any, dict[str, Any]], offline: pd.DataFrame) -> ReplayResult:
    result = ReplayResult(requests=len(served))
    id_col = plan.id_column
    fields = [plan.fs.schema[n] for n in plan.fs.schema.feature_names]
    cols = {f.name: offline[f.name].astype(object).tolist() for f in fields}
    ids = offline[id_col].tolist()
    for row, tid in enumerate(ids):
        online = served.get(tid)
        if online is None:
            result.missing_rows += 1
            continue
        for f in fields:
            a, b = canonical(f, cols[f.name][row]), canonical(f, online.get(f.name))
            result.values += 1
            if a == b:
                result.identical += 1
                continue
            if isinstance(a, float) and isinstance(b, float) and \
                    abs(a - b) <= float(np.spacing(np.float32(max(abs(a), abs(b))))):
                reason = "float_rounding"
            else:
                reason = "unexplained"
            result.differences[reason] += 1
            result.by_feature[f.name] += 1
            if len(result.examples) < 20:
                result.examples.append({"id": tid, "feature": f.name, "offline": a, "online": b, "reason": reason})
    return result


def offline_features(plan: OnlinePlan, log: EventLog, start_ns: int, end_ns: int) -> pd.DataFrame:
    months = sorted({month_of_ns(start_ns), month_of_ns(end_ns - 1)})
    first, last = months[0], months[-1]
    every = sorted({f.month for f in log[plan.fs.target].files if f.month and first <= f.month <= last})
    frame = compute_features(log, plan.fs, months=every)
    t = frame[plan.time_column]
    ns = t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
    return frame[(ns >= start_ns) & (ns < end_ns)].reset_index(drop=True)


