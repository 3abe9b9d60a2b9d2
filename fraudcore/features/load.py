"""Stage a partition's raw tables into DuckDB: check them, drop duplicates, count unknown refs.

Each needed table becomes a temp table `t_<name>` holding its declared columns (timestamps as integer
nanoseconds since the epoch, the engine's one time unit) and, for timed tables, `__t`. Problems that
make the data unusable raise `EventDataError` naming the file, the column and the first row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features.errors import EventDataError
from fraudcore.features.events import EventLog, ParquetTable
from fraudcore.features.featureset import FeatureSet
from fraudcore.features.partitions import Partition, month_bounds
from fraudcore.features.report import TableReport, ValidationReport
from fraudcore.features.usage import needed_columns


_SQL_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "category": "VARCHAR", "string": "VARCHAR",
              "timestamp": "BIGINT"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _frame_view(con, name: str, frame: pd.DataFrame, cols: list[str], dtypes: dict[str, str]) -> str:
    """Register the needed columns of a frame; timestamps become int64 ns, so no precision is lost."""
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise EventDataError(f"table {name!r} (frame): column {missing[0]!r} declared in tables.{name}.columns "
                             f"is missing; it has {sorted(map(str, frame.columns))}")
    data = {}
    for c in cols:
        s = frame[c]
        if dtypes[c] == "timestamp":
            s = pd.to_datetime(s)
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            na = s.isna().to_numpy()
            ints = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
            data[c] = pd.arrays.IntegerArray(ints, na) if na.any() else ints
        else:
            data[c] = s.array
    view = pd.DataFrame(data)
    view["__row"] = np.arange(len(frame), dtype=np.int64)
    src = f"src_{name}"
    con.register(src, view)
    return f"SELECT *, {_lit(name + ' (frame)')} AS __file FROM {src}"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parquet_view(con, name: str, source: ParquetTable, part: Partition, read_from: int | None,
                  cols: list[str], dtypes: dict[str, str]) -> tuple[str, list[tuple[str, int, int]]]:
    """SQL over the files a partition needs, and the month bounds those files promise."""
    files, bounds = [], []
    for f in source.files:
        if f.month is not None:
            lo, hi = month_bounds(f.month)
            if (read_from is not None and hi <= read_from) or (part.end_ns is not None and lo >= part.end_ns):
                continue
            bounds.append((f.path, lo, hi))
        files.append(f.path)
    if not files:
        return "", []
    file_list = "[" + ", ".join(_lit(p) for p in files) + "]"
    have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_lit(files[0])})").fetchall()}
    missing = [c for c in cols if c not in have]
    if missing:
        raise EventDataError(f"{files[0]}: column {missing[0]!r} declared in tables.{name}.columns is missing; "
                             f"it has {sorted(have)}")
    exprs = [f"epoch_ns({_q(c)}) AS {_q(c)}" if dtypes[c] == "timestamp" else _q(c) for c in cols]
    sql = (f"SELECT {', '.join(exprs)}, file_row_number AS __row, filename AS __file "
           f"FROM read_parquet({file_list}, filename = true, file_row_number = true, union_by_name = true)")
    return sql, bounds


def _earlier_ids(source, raw: str, id_col: str, time_col: str, read_from: int) -> str:
    """SQL listing the ids of events before `read_from`: a later copy of one of them is a duplicate even
    though the earlier copy lies outside this partition (so partitions agree with one pass)."""
    parts = [f"SELECT {_q(id_col)} AS __id FROM {raw} WHERE {_q(time_col)} < {read_from}"]
    if isinstance(source, ParquetTable):
        before = [f.path for f in source.files if f.month is not None and month_bounds(f.month)[1] <= read_from]
        if before:
            files = "[" + ", ".join(_lit(p) for p in before) + "]"
            parts.append(f"SELECT {_q(id_col)} AS __id FROM read_parquet({files}, union_by_name = true)")
    return " UNION ALL ".join(parts)


def _check_times(con, name: str, raw: str, time_col: str, bounds: list[tuple[str, int, int]]) -> None:
    """Every event time is present, after the epoch, and inside the month its file promises."""
    t = f"r.{_q(time_col)}"
    if bounds:
        con.execute("CREATE OR REPLACE TEMP TABLE __bounds (f VARCHAR, lo BIGINT, hi BIGINT)")
        con.executemany("INSERT INTO __bounds VALUES (?, ?, ?)", bounds)
        bad = con.execute(
            f"SELECT r.__file, r.__row, {t}, b.lo, b.hi FROM {raw} r LEFT JOIN __bounds b ON b.f = r.__file "
            f"WHERE {t} IS NULL OR {t} < 0 OR (b.lo IS NOT NULL AND ({t} < b.lo OR {t} >= b.hi)) "
            f"ORDER BY r.__file, r.__row LIMIT 1").fetchone()
    else:
        bad = con.execute(f"SELECT r.__file, r.__row, {t}, NULL, NULL FROM {raw} r WHERE {t} IS NULL OR {t} < 0 "
                          f"ORDER BY r.__file, r.__row LIMIT 1").fetchone()
    if bad is None:
        return
    file, row, value, lo, hi = bad
    shown = "null" if value is None else str(pd.Timestamp(value, unit="ns"))
    if value is None or lo is None:
        rule = "must be a timestamp after 1970-01-01"
    else:
        rule = (f"must fall in the file's month [{pd.Timestamp(lo, unit='ns')}, {pd.Timestamp(hi, unit='ns')})")
    raise EventDataError(f"{file}: column {time_col!r} {rule}; got {shown} (first at row {row})")


def stage(con, log: EventLog, fs: FeatureSet, part: Partition) -> ValidationReport:
    """Create t_<table> for every table the features read, and report what was kept and dropped."""
    report = ValidationReport(part.label)
    need = needed_columns(fs)
    for name in sorted(need):
        decl = fs.tables[name]
        cols = sorted(need[name])
        source = log[name]
        read_from = part.reads.get(name) if decl.is_timed else None
        if isinstance(source, pd.DataFrame):
            raw_sql, bounds = _frame_view(con, name, source, cols, dict(decl.columns)), []
        else:
            raw_sql, bounds = _parquet_view(con, name, source, part, read_from, cols, dict(decl.columns))
        rep = TableReport(name)
        report.tables[name] = rep
        raw = f"raw_{name}"
        if not raw_sql:
            empty = ", ".join(f"NULL::{_SQL_TYPES[decl.columns[c]]} AS {_q(c)}" for c in cols)
            con.execute(f"CREATE OR REPLACE TEMP TABLE t_{name} AS SELECT {empty}"
                        + (", NULL::BIGINT AS __t" if decl.is_timed else "") + " LIMIT 0")
            continue
        con.execute(f"CREATE OR REPLACE TEMP VIEW {raw} AS {raw_sql}")
        where, unique, order = "TRUE", decl.key, "__file, __row"
        if decl.is_timed:
            _check_times(con, name, raw, decl.time, bounds)
            lo = "TRUE" if read_from is None else f"{_q(decl.time)} >= {read_from}"
            hi = "TRUE" if part.end_ns is None else f"{_q(decl.time)} < {part.end_ns}"
            where = f"{lo} AND {hi}"
            unique = decl.id if decl.kind == "stream" else None
            order = f"{_q(decl.time)}, __file, __row"
        select = f"SELECT * EXCLUDE (__file, __row){', ' + _q(decl.time) + ' AS __t' if decl.is_timed else ''}"
        rep.rows_read, in_range = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {where}) FROM {raw}").fetchone()
        rep.outside_partition = rep.rows_read - in_range
        if decl.kind == "stream" and read_from is not None:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __earlier AS SELECT DISTINCT __id FROM "
                        f"({_earlier_ids(source, raw, decl.id, decl.time, read_from)})")
            late = con.execute(f"SELECT {_q(decl.id)} FROM {raw} WHERE {where} AND {_q(decl.id)} IN "
                               f"(SELECT __id FROM __earlier) ORDER BY __file, __row LIMIT 1").fetchone()
            if late is not None:
                rep.first_duplicate = str(late[0])
                where += f" AND {_q(decl.id)} NOT IN (SELECT __id FROM __earlier)"
        keys = [unique] if unique else [decl.key, decl.time]
        keylist = ", ".join(_q(k) for k in keys)
        kept_rows = con.execute(f"SELECT count(*) FROM {raw} WHERE {where}").fetchone()[0] \
            if rep.first_duplicate is not None else in_range
        distinct = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {keylist} FROM {raw} WHERE {where})").fetchone()[0]
        if distinct == kept_rows:
            con.execute(f"CREATE OR REPLACE TEMP TABLE t_{name} AS {select} FROM {raw} WHERE {where}")
            rep.kept = kept_rows
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE t_{name} AS {select} FROM {raw} WHERE {where} "
                        f"QUALIFY row_number() OVER (PARTITION BY {keylist} ORDER BY {order}) = 1")
            first = con.execute(f"SELECT {keylist} FROM {raw} WHERE {where} GROUP BY {keylist} HAVING count(*) > 1 "
                                f"ORDER BY min(__file), min(__row) LIMIT 1").fetchone()
            rep.first_duplicate = rep.first_duplicate or ", ".join(map(str, first))
            rep.kept = con.execute(f"SELECT count(*) FROM t_{name}").fetchone()[0]
        rep.duplicates_dropped = in_range - rep.kept
        con.execute(f"DROP VIEW {raw}")
    for name in sorted(need):
        decl = fs.tables[name]
        for col, entity in decl.refs.items():
            if col not in need[name]:
                continue
            if entity not in need:
                report.notes.append(f"{name}.{col}: not checked against {entity} (table not read for these features)")
                continue
            key = _q(fs.tables[entity].key)
            n = con.execute(f"SELECT count(*) FROM t_{name} x WHERE x.{_q(col)} IS NOT NULL AND NOT EXISTS "
                            f"(SELECT 1 FROM t_{entity} e WHERE e.{key} = x.{_q(col)})").fetchone()[0]
            report.tables[name].unknown_refs[col] = n
    return report
