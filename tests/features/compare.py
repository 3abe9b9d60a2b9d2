"""Compare two feature frames the way the issue asks: counts exactly, floats within 1e-9 relative, nulls equal."""
from __future__ import annotations

import numpy as np
import pandas as pd

from fraudcore.features import FeatureSet

REL = 1e-9


def exact_columns(fs: FeatureSet) -> set[str]:
    out = set()
    for f in fs.features:
        if f.kind == "aggregate" and f.op in ("count", "distinct_count", "exists", "first_time"):
            out.add(f.name)
        elif fs.schema[f.name].dtype in ("int", "bool", "category"):
            out.add(f.name)
    return out


def mismatches(fs: FeatureSet, got: pd.DataFrame, want: pd.DataFrame, rel: float = REL) -> list[str]:
    """Human-readable differences, empty when the frames agree."""
    if len(got) != len(want):
        return [f"row count {len(got)} != {len(want)}"]
    problems = []
    exact = exact_columns(fs)
    for col in fs.output_columns:
        a, b = got[col].reset_index(drop=True), want[col].reset_index(drop=True)
        na, nb = a.isna().to_numpy(), b.isna().to_numpy()
        if (na != nb).any():
            i = int(np.argmax(na != nb))
            problems.append(f"{col}: null mismatch at row {i}: {a[i]!r} vs {b[i]!r}")
            continue
        a, b = a[~na], b[~nb]
        if col in exact or not pd.api.types.is_numeric_dtype(a.dtype) or pd.api.types.is_bool_dtype(a.dtype):
            bad = a.astype(str).to_numpy() != b.astype(str).to_numpy() if col not in exact or not \
                pd.api.types.is_numeric_dtype(a.dtype) else a.to_numpy(dtype=np.float64) != b.to_numpy(dtype=np.float64)
        else:
            x, y = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
            scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-300)
            bad = np.abs(x - y) > rel * scale + 1e-9 * (col.find("std") >= 0) * np.maximum(scale, 1.0)
        if np.any(bad):
            i = int(np.argmax(bad))
            problems.append(f"{col}: {int(np.sum(bad))} rows differ, first {a.iloc[i]!r} vs {b.iloc[i]!r}")
    return problems
