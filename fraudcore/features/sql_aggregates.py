"""Aggregates as DuckDB window functions over each (stream, key) group.

A frame `RANGE BETWEEN w PRECEDING AND lag + 1 PRECEDING` over integer-nanosecond time selects exactly
the events with  t - w <= e <= t - lag - 1, i.e.  t - w <= e < t - lag : equal timestamps are excluded
whatever their order. When the stream is not the target, the target rows are unioned in with no value,
so they count for nothing and only read the frame.
"""
from __future__ import annotations

from dataclasses import dataclass

from fraudcore.features.definitions import AggregateFeature, Equals
from fraudcore.features.durations import NS_PER_DAY
from fraudcore.features.featureset import FeatureSet
from fraudcore.features.partitions import Partition


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Item:
    """One window aggregate computed into column `alias`."""

    alias: str
    op: str
    column: str | None
    filters: tuple[Equals, ...]
    window_ns: int
    lag_ns: int


def group_items(fs: FeatureSet) -> dict[tuple[str, tuple[str, ...]], list[Item]]:
    """(stream, key) -> the aggregates it computes, including the `null_without` history counts."""
    groups: dict[tuple[str, tuple[str, ...]], list[Item]] = {}
    for f in fs.of_kind("aggregate"):
        assert isinstance(f, AggregateFeature)
        groups.setdefault((f.stream, f.key), []).append(
            Item(f.name, f.op, f.column, f.filters, f.window_ns, f.lag_ns))
        if f.null_without is not None:
            h = f.null_without
            groups.setdefault((h.stream, f.key), []).append(Item(f"__h_{f.name}", "count", None, (), h.window_ns, 0))
    return groups


def _expr(item: Item, is_event: str, keys: tuple[str, ...], window: str) -> str:
    cond = " AND ".join([is_event] + [f"{q(k)} IS NOT NULL" for k in keys]
                        + [f"{q(c.column)} = {literal(c.value)}" for c in item.filters])
    val = "1" if item.column is None else q(item.column)
    inner = f"CASE WHEN {cond} THEN {val} END"
    over = f"OVER {window}"
    return {
        "count": f"count({inner}) {over}",
        "exists": f"count({inner}) {over} > 0",
        "first_time": f"count({inner}) {over} = 0",
        "sum": f"coalesce(sum({inner}) {over}, 0)",
        "mean": f"avg({inner}) {over}",
        "std": f"stddev_pop({inner}) {over}",
        "min": f"min({inner}) {over}",
        "max": f"max({inner}) {over}",
        "distinct_count": f"count(DISTINCT {inner}) {over}",
        "last_seen": f"(__t - max(CASE WHEN {cond} THEN __t END) {over}) / {float(NS_PER_DAY)!r}",
    }[item.op]


def group_sql(fs: FeatureSet, stream: str, keys: tuple[str, ...], items: list[Item], part: Partition) -> str:
    """SELECT __id, <one column per item> for the partition's target rows."""
    partition = ", ".join(q(k) for k in keys)
    frames = sorted({(i.window_ns, i.lag_ns) for i in items})
    names = {fr: f"w{n}" for n, fr in enumerate(frames)}
    windows = ", ".join(f"{names[(w, lag)]} AS (PARTITION BY {partition} ORDER BY __t "
                        f"RANGE BETWEEN {w} PRECEDING AND {lag + 1} PRECEDING)" for w, lag in frames)
    tid = q(fs.target_table.id)
    in_part = " AND ".join([f"__t >= {part.start_ns}"] if part.start_ns is not None else ["TRUE"]) + (
        f" AND __t < {part.end_ns}" if part.end_ns is not None else "")
    if stream == fs.target:
        exprs = ", ".join(f"{_expr(i, 'TRUE', keys, names[(i.window_ns, i.lag_ns)])} AS {q(i.alias)}" for i in items)
        return (f"SELECT {tid} AS __id, {exprs} FROM t_{stream} WINDOW {windows} QUALIFY {in_part}")
    values = sorted({i.column for i in items if i.column} | {c.column for i in items for c in i.filters})
    key_cols = ", ".join(q(k) for k in keys)
    tgt_vals = "".join(f", NULL AS {q(v)}" for v in values)
    ev_vals = "".join(f", {q(v)}" for v in values)
    union = (f"SELECT {key_cols}, __t, {tid} AS __id, FALSE AS __ev{tgt_vals} FROM tgt UNION ALL BY NAME "
             f"SELECT {key_cols}, __t, NULL AS __id, TRUE AS __ev{ev_vals} FROM t_{stream}")
    exprs = ", ".join(f"{_expr(i, '__ev', keys, names[(i.window_ns, i.lag_ns)])} AS {q(i.alias)}" for i in items)
    return f"SELECT __id, {exprs} FROM ({union}) WINDOW {windows} QUALIFY NOT __ev"
