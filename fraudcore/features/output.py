"""Cast the engine's result to the dtypes the schema declares (the same ones the training path reads).

float -> float32; int -> int32 (float32 when nullable); bool -> bool; category -> Categorical over the
schema's categories (a value outside them is missing); ids -> int64; timestamps -> datetime64[ns, UTC].
The engine casts in SQL (`typed_expr`) and wraps the columns without copying them again
(`frame_from_arrow`); `to_schema_frame` does the same from plain values, for the reference.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from fraudcore.features.featureset import FeatureSet
from fraudcore.schema import Field


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def typed_expr(f: Field, expr: str) -> str:
    """SQL casting `expr` to the column the frame will hold (category -> its code, -1 when missing)."""
    if f.dtype == "timestamp":
        return f"CAST({expr} AS BIGINT)"
    if f.dtype == "category":
        return f"CAST(coalesce(list_position({_sql_list(f.categories or ())}, CAST({expr} AS VARCHAR)), 0) - 1 AS INTEGER)"
    if f.dtype == "bool":
        return f"coalesce(CAST({expr} AS BOOLEAN), FALSE)" if not f.nullable else f"CAST({expr} AS FLOAT)"
    if f.dtype == "float" or (f.dtype == "int" and f.nullable):
        return f"CAST({expr} AS FLOAT)"
    if f.role == "id":
        return f"CAST({expr} AS BIGINT)"
    return f"CAST(coalesce({expr}, 0) AS INTEGER)"


def frame_from_arrow(fs: FeatureSet, table: pa.Table) -> pd.DataFrame:
    """Wrap the typed columns of `typed_expr` as the schema's pandas dtypes."""
    out: dict[str, object] = {}
    for name in fs.output_columns:
        f = fs.schema[name]
        values = table.column(name).to_numpy()
        if f.dtype == "timestamp":
            out[name] = pd.DatetimeIndex(values.astype("datetime64[ns]"), tz="UTC")
        elif f.dtype == "category":
            out[name] = pd.Categorical.from_codes(values, categories=list(f.categories or ()))
        else:
            out[name] = values
    return pd.DataFrame(out)


def to_schema_frame(fs: FeatureSet, raw: pd.DataFrame) -> pd.DataFrame:
    """The same casts from plain values (the reference's path)."""
    out: dict[str, object] = {}
    for name in fs.output_columns:
        f = fs.schema[name]
        s = raw[name]
        if f.dtype == "timestamp":
            out[name] = pd.to_datetime(s.to_numpy(dtype=np.int64), utc=True)
        elif f.dtype == "category":
            values = s.astype(object).where(s.notna(), None)
            out[name] = pd.Categorical([None if v is None else str(v) for v in values],
                                       categories=list(f.categories or ()))
        elif f.dtype == "bool":
            out[name] = s.fillna(False).astype(bool).to_numpy() if not f.nullable else s.astype("float32").to_numpy()
        elif f.dtype == "float" or (f.dtype == "int" and f.nullable):
            out[name] = pd.to_numeric(s).astype(np.float32).to_numpy()
        elif f.role == "id":
            out[name] = s.astype(np.int64).to_numpy()
        else:
            out[name] = pd.to_numeric(s).fillna(0).astype(np.int32).to_numpy()
    return pd.DataFrame(out)
