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
import pyarrow.compute as pc

from fraudcore.features.featureset import FeatureSet
from fraudcore.schema import Field


def typed_expr(f: Field, expr: str) -> str:
    """SQL casting `expr` to the column the frame will hold (category -> its code, -1 when missing)."""
    if f.dtype == "timestamp":
        return f"CAST({expr} AS BIGINT)"
    if f.dtype == "category":
        return expr                      # encoded on the Arrow side (frame_from_arrow), much cheaper than in SQL
    if f.dtype == "bool":
        return f"coalesce(CAST({expr} AS BOOLEAN), FALSE)" if not f.nullable else f"CAST({expr} AS FLOAT)"
    if f.dtype == "float" or (f.dtype == "int" and f.nullable):
        return f"CAST({expr} AS FLOAT)"
    if f.role == "id":
        return f"CAST({expr} AS BIGINT)"
    return f"CAST(coalesce({expr}, 0) AS INTEGER)"


def _codes(column: pa.ChunkedArray, categories: list[str]) -> np.ndarray:
    """Codes into `categories` (-1 for null or a value outside them) of a string or dictionary column."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column.cast(pa.string()))
    lookup = {c: i for i, c in enumerate(categories)}
    mapping = np.array([lookup.get(str(v), -1) for v in column.dictionary.to_pylist()] + [-1], dtype=np.int32)
    indices = column.indices.to_numpy(zero_copy_only=False)
    nulls = column.indices.is_null().to_numpy(zero_copy_only=False)
    return mapping[np.where(nulls, len(mapping) - 1, np.nan_to_num(indices, nan=len(mapping) - 1).astype(np.int64))]


def frame_from_arrow(fs: FeatureSet, table: pa.Table, order: np.ndarray | None = None) -> pd.DataFrame:
    """Wrap the typed columns of `typed_expr` as the schema's pandas dtypes, rows taken in `order`."""
    out: dict[str, object] = {}
    for name in fs.output_columns:
        f = fs.schema[name]
        if f.dtype == "category":
            values = _codes(table.column(name), list(f.categories or ()))
        else:
            values = table.column(name).to_numpy()
        if order is not None:
            values = values[order]
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
            cats = list(f.categories or ())
            known = set(cats)
            values = s.astype(object).where(s.notna(), None)
            out[name] = pd.Categorical([str(v) if v is not None and str(v) in known else None for v in values],
                                       categories=cats)
        elif f.dtype == "bool":
            out[name] = s.fillna(False).astype(bool).to_numpy() if not f.nullable else s.astype("float32").to_numpy()
        elif f.dtype == "float" or (f.dtype == "int" and f.nullable):
            out[name] = pd.to_numeric(s).astype(np.float32).to_numpy()
        elif f.role == "id":
            out[name] = s.astype(np.int64).to_numpy()
        else:
            out[name] = pd.to_numeric(s).fillna(0).astype(np.int32).to_numpy()
    return pd.DataFrame(out)
