"""Per-row features: entity lookups through refs, derived functions, and as-of references."""
from __future__ import annotations

from fraudcore.features.calendars import holiday_days
from fraudcore.features.definitions import DerivedFeature, ReferenceFeature
from fraudcore.features.durations import NS_PER_DAY, NS_PER_UNIT
from fraudcore.features.featureset import FeatureSet
from fraudcore.features.sql_aggregates import q
from fraudcore.features.usage import entity_paths

NS_PER_HOUR = NS_PER_UNIT["h"]


def _alias(fs: FeatureSet, table: str) -> str:
    return "tgt" if table == fs.target else f"e_{table}"


def _derived_expr(fs: FeatureSet, f: DerivedFeature, years: tuple[int, int]) -> str:
    cols = [f"{_alias(fs, r.table)}.{q(r.column)}" for r in f.inputs]
    if f.function == "hour_of_day":
        return f"(tgt.__t // {NS_PER_HOUR}) % 24"
    if f.function == "day_of_week":           # 1970-01-01 was a Thursday (Monday = 0)
        return f"(tgt.__t // {NS_PER_DAY} + 3) % 7"
    if f.function == "is_holiday":
        days = holiday_days(f.calendar or "", *years) or [-1]
        return f"(tgt.__t // {NS_PER_DAY}) IN ({', '.join(map(str, days))})"
    if f.function == "days_since":            # whole days; an entity dated after the event is age 0
        return f"CASE WHEN {cols[0]} IS NOT NULL THEN greatest(0, (tgt.__t - {cols[0]}) // {NS_PER_DAY}) END"
    if f.function == "differs":               # unknown on either side is not a difference
        return f"coalesce(CAST({cols[0]} AS VARCHAR) <> CAST({cols[1]} AS VARCHAR), FALSE)"
    return cols[0]                            # lookup


def base_sql(fs: FeatureSet, years: tuple[int, int]) -> str:
    """__id, __t, every derived feature, and `__key_<entity>` for each entity a reference needs."""
    paths = entity_paths(fs)
    joins = []
    for entity, chain in sorted(paths.items(), key=lambda kv: (len(kv[1]), kv[0])):
        hop = chain[-1]
        key = q(fs.tables[entity].key)
        joins.append(f"LEFT JOIN t_{entity} AS e_{entity} ON e_{entity}.{key} = {_alias(fs, hop.table)}.{q(hop.column)}")
    exprs = [f"{_derived_expr(fs, f, years)} AS {q(f.name)}" for f in fs.of_kind("derived")]
    for table in sorted({f.table for f in fs.of_kind("reference")}):
        snap = fs.tables[table]
        entity = snap.refs[snap.key]
        exprs.append(f"{_alias(fs, entity)}.{q(fs.tables[entity].key)} AS {q('__key_' + table)}")
    tid = q(fs.target_table.id)
    return f"SELECT tgt.{tid} AS __id, tgt.__t, {', '.join(exprs)} FROM tgt {' '.join(joins)}"


def reference_sql(fs: FeatureSet, table: str, feats: list[ReferenceFeature]) -> str:
    """The latest snapshot of `table` strictly before each event (ASOF with `>`), one column per feature."""
    snap = fs.tables[table]
    cols = []
    for f in feats:
        value = f"s.{q(f.column)}"
        if f.max_age_ns is not None:
            value = f"CASE WHEN b.__t - s.__t <= {f.max_age_ns} THEN {value} END"
        if f.default is not None:
            value = f"coalesce({value}, {f.default!r})"
        cols.append(f"{value} AS {q(f.name)}")
    return (f"SELECT b.__id, {', '.join(cols)} FROM base b ASOF LEFT JOIN t_{table} s "
            f"ON s.{q(snap.key)} = b.{q('__key_' + table)} AND b.__t > s.__t")
