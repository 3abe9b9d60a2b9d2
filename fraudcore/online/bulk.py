"""Bulk load: the store as of a time, from the event log the offline engine reads.

Entity rows, the latest reference snapshots and the window state of every group, for events before
`as_of` (the batch half of "batch vs online"); the stream then keeps them exact. Read with DuckDB
over the parquet months that reach back the longest window; the same dedup rules as the engine (the
earliest row of a duplicate event id; the first row of a duplicate entity key or snapshot time).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from fraudcore.features.events import EventLog, ParquetTable
from fraudcore.features.partitions import month_of_ns
from fraudcore.online.ingest import WATERMARK_KEY
from fraudcore.online.plan import OnlinePlan
from fraudcore.online.state import encode
from fraudcore.online.store import Put, Store

_CHUNK = 2000


@dataclass(frozen=True)
class LoadReport:
    as_of_ns: int
    entities: int
    snapshots: int
    groups: int
    events: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files(log: EventLog, table: str, first_ns: int | None, as_of_ns: int) -> list[str]:
    source = log[table]
    if not isinstance(source, ParquetTable):
        raise TypeError(f"bulk load reads parquet event logs; table {table!r} is a {type(source).__name__}")
    lo = month_of_ns(first_ns) if first_ns is not None else "0000-00"
    hi = month_of_ns(as_of_ns - 1)
    return [f.path for f in source.files if f.month is None or lo <= f.month <= hi]


def _select(con, files: list[str], cols: list[str], dtypes: dict[str, str], where: str) -> list[tuple]:
    if not files:
        return []
    exprs = ", ".join(f"epoch_ns({_q(c)})" if dtypes[c] == "timestamp" else _q(c) for c in cols)
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    rows = con.execute(f"SELECT {exprs} FROM read_parquet([{listing}], union_by_name = true) {where}").fetchall()
    return [tuple(None if v != v else v for v in row) for row in rows]   # NaN (a parquet float's missing) -> None


class _Writer:
    """Writes (key, value) pairs in chunks, replacing whatever the store holds."""

    def __init__(self, store: Store, expiry: Callable[[str, Any], int]) -> None:
        self.store, self.expiry, self.buf, self.written = store, expiry, [], 0

    def add(self, key: str, state: Any) -> None:
        self.buf.append((key, state))
        if len(self.buf) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        have = self.store.get_many([k for k, _ in self.buf])
        self.store.put_many([Put(k, encode(v), self.expiry(k, v), have[k].version if k in have else 0)
                             for k, v in self.buf])
        self.written += len(self.buf)
        self.buf = []


def load_history(plan: OnlinePlan, store: Store, log: EventLog, as_of_ns: int, lateness_ns: int,
                 expiry: Callable[[str, Any], int] = lambda key, state: 0) -> LoadReport:
    """Write the store's state as of `as_of_ns` (exclusive); sets the ingest watermark to it."""
    tables = plan.fs.tables
    con = duckdb.connect()
    con.execute("SET threads = 1")
    writer = _Writer(store, expiry)
    n_entities = n_snaps = n_groups = n_events = 0
    for e in plan.entities:
        t = tables[e.table]
        cols = [t.key, *e.columns]
        rows = _select(con, _files(log, e.table, None, as_of_ns), cols, dict(t.columns), "")
        seen: set = set()
        for row in rows:
            if row[0] is None or row[0] in seen:
                continue
            seen.add(row[0])
            writer.add(e.state_key(row[0]), dict(zip(e.columns, row[1:])))
            n_entities += 1
    horizon = as_of_ns - lateness_ns
    for s in plan.snapshots:
        t = tables[s.table]
        cols = [s.key, s.time, *s.columns]
        rows = _select(con, _files(log, s.table, None, as_of_ns), cols, dict(t.columns),
                       f"WHERE {_q(s.time)} < make_timestamp_ns({as_of_ns}) AND {_q(s.key)} IS NOT NULL")
        per_key: dict[Any, dict[int, list]] = {}
        for key, ts, *vals in rows:
            per_key.setdefault(key, {}).setdefault(ts, vals)     # the first row of a (key, time) wins
        for key, by_time in per_key.items():
            times = sorted(by_time)
            keep = [x for x in times if x >= horizon]
            older = [x for x in times if x < horizon]
            if older:
                keep.insert(0, older[-1])
            state = {"t": keep, "v": [[by_time[x][i] for x in keep] for i in range(len(s.columns))]}
            writer.add(s.state_key(key), state)
            n_snaps += 1
    for g in plan.groups:
        t = tables[g.stream]
        first = as_of_ns - g.retention_ns - lateness_ns
        cols = [*g.key, g.time, g.id, *g.columns]
        keys = " AND ".join(f"{_q(k)} IS NOT NULL" for k in g.key)
        rows = _select(con, _files(log, g.stream, first, as_of_ns), cols, dict(t.columns),
                       f"WHERE {_q(g.time)} >= make_timestamp_ns({first}) AND {_q(g.time)} < "
                       f"make_timestamp_ns({as_of_ns}) AND {keys} "
                       f"QUALIFY row_number() OVER (PARTITION BY {_q(g.id)} ORDER BY {_q(g.time)}) = 1 "
                       f"ORDER BY {_q(g.time)}")
        nk = len(g.key)
        states: dict[tuple, dict[str, list]] = {}
        for row in rows:
            key = tuple(row[:nk])
            st = states.get(key)
            if st is None:
                st = states[key] = {"t": [], "id": [], "v": [[] for _ in g.columns]}
            st["t"].append(row[nk])
            st["id"].append(row[nk + 1])
            for col, v in zip(st["v"], row[nk + 2:]):
                col.append(v)
            n_events += 1
        for key, st in states.items():
            writer.add(g.state_key(key), st)
            n_groups += 1
    writer.flush()
    have = store.get_many([WATERMARK_KEY]).get(WATERMARK_KEY)
    store.put_many([Put(WATERMARK_KEY, str(as_of_ns).encode(), 0, have.version if have else 0)])
    con.close()
    return LoadReport(as_of_ns, n_entities, n_snaps, n_groups, n_events)
