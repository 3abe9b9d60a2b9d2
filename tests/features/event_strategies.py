"""Hypothesis strategies: small random event logs for any feature declaration.

Times sit on an hourly grid (so window edges and equal timestamps happen often), nudged by +-1 ns now
and then (so "strictly before" is tested on both sides of every edge). Ids repeat (duplicates),
refs point past the entity tables (unknown entities), and rows come in any order.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from fraudcore.features import FeatureSet

BASE_NS = pd.Timestamp("2025-03-01").value
HOUR_NS = 3_600_000_000_000
GRID_HOURS = 24 * 12
MONTHS = ["2025-03", "2025-04"]
FLOATS = [0.0, 0.5, 1.0, 2.25, 10.0, 99.99, 1234.5]


def _categories(fs: FeatureSet, column: str) -> list[str]:
    for name in (column, column.rsplit("_", 1)[-1]):
        f = fs.schema.by_name.get(name)
        if f is not None and f.dtype == "category":
            return list(f.categories or ())
    return ["a", "b"]


# sums of window-like steps, so two events land exactly one window (or window minus lag) apart
STEPS_HOURS = [0, 1, 24, 24, 168, 720]


def times(period_hours: int = GRID_HOURS) -> st.SearchStrategy[int]:
    hours = st.lists(st.sampled_from(STEPS_HOURS), max_size=3).map(sum) | st.integers(0, period_hours)
    return st.builds(lambda h, nudge: BASE_NS + h * HOUR_NS + nudge, hours, st.sampled_from([0, 0, 0, 0, 1, -1]))


def _value(fs: FeatureSet, table: str, column: str, nullable: bool) -> st.SearchStrategy:
    decl = fs.tables[table]
    dtype = decl.columns[column]
    if column in decl.refs:
        base = st.integers(1, 4)
    elif dtype == "timestamp":
        base = times() if decl.is_timed else st.builds(lambda h: BASE_NS - h * HOUR_NS, st.integers(-48, 24 * 400))
    elif dtype == "int":
        base = st.integers(0, 1) if column.startswith("is_") else st.integers(1, 12)
    elif dtype == "float":
        base = st.sampled_from(FLOATS) | st.floats(0, 1e4, allow_nan=False, allow_infinity=False)
    elif dtype == "bool":
        base = st.booleans()
    else:
        base = st.sampled_from(_categories(fs, column))
    return (base | st.none()) if nullable else base


def _frame(fs: FeatureSet, table: str, rows: list[dict]) -> pd.DataFrame:
    decl = fs.tables[table]
    data = {}
    for col, dtype in decl.columns.items():
        values = [r[col] for r in rows]
        if dtype == "timestamp":
            data[col] = pd.to_datetime(pd.Series([np.nan if v is None else v for v in values], dtype="float64")
                                       .astype("Int64"), unit="ns") if any(v is None for v in values) \
                else pd.to_datetime(np.array(values, dtype=np.int64), unit="ns")
        elif dtype == "category":
            data[col] = pd.Categorical(values, categories=_categories(fs, col))
        elif dtype == "float":
            data[col] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif dtype == "bool":
            data[col] = np.array(values, dtype=bool)
        else:
            data[col] = np.array(values, dtype=np.int64)
    return pd.DataFrame(data)


@st.composite
def event_logs(draw, fs: FeatureSet, max_events: int = 14) -> dict[str, pd.DataFrame]:
    """Tables by name for `fs`'s declarations; the target stream has at least one event."""
    out = {}
    for name, decl in fs.tables.tables.items():
        if decl.kind == "entity":
            n = draw(st.integers(0, 5))
            fixed = {decl.key: st.integers(1, 4)}
        elif decl.kind == "stream":
            n = draw(st.integers(1 if name == fs.target else 0, max_events))
            fixed = {decl.id: st.integers(1, n + 2)}
        else:
            n = draw(st.integers(0, 8))
            fixed = {decl.key: st.integers(1, 5)}
        rows = []
        for _ in range(n):
            row = {}
            for col in decl.columns:
                nullable = decl.kind == "snapshot" and col not in (decl.key, decl.time)
                row[col] = draw(fixed.get(col, _value(fs, name, col, nullable)))
            rows.append(row)
        out[name] = _frame(fs, name, rows)
    return out
