"""The offline engine: every feature of every target event, point in time, on DuckDB.

One partition is computed by staging its tables (load.stage), then one window query per
(stream, key) group of aggregates, one row query for derived features and one ASOF join per
snapshot table, all joined on the target event id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import duckdb
import numpy as np
import pandas as pd

from fraudcore.features.events import EventLog
from fraudcore.features.featureset import FeatureSet
from fraudcore.features.load import stage
from fraudcore.features.output import frame_from_arrow, to_schema_frame, typed_expr
from fraudcore.features.partitions import Partition, month_of_ns, plan_months, whole_log
from fraudcore.features.report import ValidationReport
from fraudcore.features.sql_aggregates import group_items, group_sql, q
from fraudcore.features.sql_rows import base_sql, reference_sql


@dataclass
class FeatureResult:
    frame: pd.DataFrame
    reports: list[ValidationReport]


@dataclass(frozen=True)
class EngineLimits:
    """What DuckDB may use: `threads` (None: all cores) and `memory_limit` (a DuckDB size such as '4GB';
    None: DuckDB's default)."""

    threads: int | None = None
    memory_limit: str | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"engine limit 'threads' must be None or an integer >= 1; got {self.threads!r}")
        if self.memory_limit is not None and not isinstance(self.memory_limit, str):
            raise ValueError(f"engine limit 'memory_limit' must be None or a size string such as '4GB'; "
                             f"got {self.memory_limit!r}")


def _connect(threads: int | None, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def compute_partition(log: EventLog, fs: FeatureSet, part: Partition, threads: int | None = None,
                      memory_limit: str | None = None, cast: bool = True) -> FeatureResult:
    """The features of the target events in one partition, and what loading kept and dropped.

    cast=False returns the engine's own values (float64, time as ns) for exact comparisons in tests.
    """
    con = _connect(threads, memory_limit)
    try:
        report = stage(con, log, fs, part)
        lo = "TRUE" if part.start_ns is None else f"__t >= {part.start_ns}"
        hi = "TRUE" if part.end_ns is None else f"__t < {part.end_ns}"
        kind = "VIEW" if part.start_ns is None and part.end_ns is None else "TEMP TABLE"
        con.execute(f"CREATE {kind} tgt AS SELECT * FROM t_{fs.target} WHERE {lo} AND {hi}")
        span = con.execute("SELECT min(__t), max(__t) FROM tgt").fetchone()
        if span[0] is None:
            empty = _empty(fs)
            return FeatureResult(to_schema_frame(fs, empty) if cast else empty, [report])
        years = (int(month_of_ns(span[0])[:4]), int(month_of_ns(span[1])[:4]))
        con.execute(f"CREATE TEMP TABLE base AS {base_sql(fs, years)}")
        parts = ["base"]
        for n, ((stream, keys), items) in enumerate(sorted(group_items(fs).items())):
            con.execute(f"CREATE TEMP TABLE agg{n} AS {group_sql(fs, stream, keys, items, part)}")
            parts.append(f"agg{n}")
        refs: dict[str, list] = {}
        for f in fs.of_kind("reference"):
            refs.setdefault(f.table, []).append(f)
        for n, (table, feats) in enumerate(sorted(refs.items())):
            con.execute(f"CREATE TEMP TABLE ref{n} AS {reference_sql(fs, table, feats)}")
            parts.append(f"ref{n}")
        sql = _final_sql(fs, parts, cast)
        if cast:      # sorting the ids in numpy beats sorting 40-column rows in SQL
            table = con.sql(sql).to_arrow_table()
            tt = fs.target_table
            order = np.lexsort((table.column(tt.id).to_numpy(), table.column(tt.time).to_numpy()))
            frame = frame_from_arrow(fs, table, order)
        else:
            frame = con.execute(sql + " ORDER BY __tt, __id").df()
        return FeatureResult(frame, [report])
    finally:
        con.close()


def _final_sql(fs: FeatureSet, parts: list[str], cast: bool) -> str:
    """Join the parts on the target id; target columns are renamed so no feature name can collide."""
    tt = fs.target_table
    own = sorted({name for name in fs.output_columns if name not in fs.schema.feature_names}
                 | {f.column for f in fs.of_kind("request", "vendor")})
    exprs = []
    for name in fs.output_columns:
        f = next((x for x in fs.features if x.name == name), None)
        if name == tt.time:
            expr = "__tt"
        elif f is None or f.kind in ("request", "vendor"):
            expr = q("__r_" + (name if f is None else f.column))
        elif f.kind == "aggregate" and f.null_without is not None:
            expr = f"CASE WHEN {q('__h_' + name)} > 0 THEN {q(name)} END"
        elif f.kind == "aggregate" and f.default is not None:
            expr = f"coalesce({q(name)}, {f.default!r})"
        else:
            expr = q(name)
        exprs.append(f"{typed_expr(fs.schema[name], expr) if cast else expr} AS {q(name)}")
    renamed = ", ".join(f"{q(c)} AS {q('__r_' + c)}" for c in own)
    joins = " ".join(f"JOIN {p} USING (__id)" for p in parts)
    return (f"SELECT {', '.join(exprs)} FROM (SELECT {q(tt.id)} AS __id, __t AS __tt, {renamed} FROM tgt) tgt "
            f"{joins}")


def _empty(fs: FeatureSet) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="float64") for c in fs.output_columns})


def compute_features_with_report(log: EventLog, fs: FeatureSet, months: Sequence[str] | None = None,
                                 limits: EngineLimits = EngineLimits(), progress=None,
                                 cast: bool = True) -> FeatureResult:
    """months=None: the whole log in one pass; else one partition per month, concatenated in order."""
    plan = [whole_log(fs)] if months is None else plan_months(fs, months)
    frames, reports = [], []
    for i, part in enumerate(plan):
        result = compute_partition(log, fs, part, limits.threads, limits.memory_limit, cast)
        frames.append(result.frame)
        reports += result.reports
        if progress is not None:
            progress(i, len(plan), part, result)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return FeatureResult(frame, reports)


def compute_features(log: EventLog, fs: FeatureSet, months: Sequence[str] | None = None,
                     threads: int | None = None, memory_limit: str | None = None) -> pd.DataFrame:
    """One row per target event: the schema's id and time columns and every feature, in schema dtypes.

    The validation report (events kept, duplicates dropped, unknown refs) is in `frame.attrs['validation']`;
    use compute_features_with_report to get it as objects.
    """
    result = compute_features_with_report(log, fs, months, EngineLimits(threads, memory_limit))
    result.frame.attrs["validation"] = [r.to_dict() for r in result.reports]
    return result.frame
