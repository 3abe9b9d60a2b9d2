"""The request-only paths of `FeaturePipeline.transform`: a few records, or a column mapping of a few rows.

A request reaches the pipeline as a list of records (field -> value, the way JSON arrives), rarely
more than a handful. For so few rows the general path's fixed costs (building columns, a numpy call
per field and per derived feature) are most of the work, so these paths build the same matrix with
fewer, larger conversions (docs/serving.md#where-the-time-goes-in-the-transform has the figures).

They are shortcuts, not a second transform: the layout, the category tables and the one list of
derived features all come from the fitted `FeaturePipeline` (`RequestPaths` is built by its
`_build_layout`), and every value has the same bits as the general path's. `tests/test_pipeline.py`
checks records against columns and DataFrames, one row alone against a batch, and each scalar op
against its array op on edge values.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# Up to this many records the row path below is used; beyond it building columns is as cheap, and
# the row path's Python work grows with every row.
FEW_RECORDS = 8
# Up to this many rows a column mapping (not a DataFrame) is converted in one flat list per kind
# of field instead of field by field: the numpy calls it saves cost more than the list it builds.
FEW_ROWS = 64

# The derived ops on one row's Python floats: for a request a numpy call per op costs more than the
# arithmetic. Division and subtraction are IEEE-exact in both forms, so the results are the same bits
# as `pipeline.DERIVED_OPS` (tests/test_pipeline.py checks every op on edge values). log1p has no
# scalar form: numpy's may be a SIMD implementation that differs from libm in the last place, so the
# row path runs the array op once over the request's rows.
_NAN = float("nan")
SCALAR_OPS: dict[str, Callable[..., float]] = {
    "ratio": lambda a, b: a / b if b > 0 else _NAN,
    "zscore": lambda x, mean, std: (x - mean) / std if std > 0 else _NAN,
    "diff": lambda a, b: a - b,
}

CodeOf = Callable[[Any, Mapping[str, int], int, int], int]
# (output position, array op, scalar op or None, input positions): the pipeline's own list
Derived = list[tuple[int, Callable[..., np.ndarray], Callable[..., float] | None, list[int]]]


class RequestPaths:
    """The request-only paths over one fitted layout.

    names: the schema features, which sit at output positions 0..k-1 in this order; numeric:
    (name, position) of the non-category ones; categorical: (name, position, table, missing code,
    unseen code); derived: the pipeline's derived-feature list; indicator_src: the position each
    missing indicator reads; code_of: the pipeline's category lookup.
    """

    __slots__ = ("names", "numeric", "categorical", "derived", "indicator_src", "code_of", "numeric_idx",
                 "categorical_idx", "tail_nan")

    def __init__(self, names: Sequence[str], numeric: Sequence[tuple[str, int]],
                 categorical: Sequence[tuple[str, int, Mapping[str, int], int, int]], derived: Derived,
                 indicator_src: Sequence[int], code_of: CodeOf) -> None:
        self.names, self.numeric, self.categorical = names, numeric, categorical
        self.derived, self.indicator_src, self.code_of = derived, indicator_src, code_of
        self.numeric_idx = np.array([i for _, i in self.numeric], dtype=np.intp)
        self.categorical_idx = np.array([c[1] for c in self.categorical], dtype=np.intp)
        self.tail_nan = [np.nan] * (len(derived) + len(self.indicator_src))

    def as_columns(self, records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """Records as a column mapping of the schema features (an absent field is None)."""
        return {name: [r.get(name) for r in records] for name in self.names}

    def records_matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
        """The matrix of 1..FEW_RECORDS records, or None to take the column path (no records, more
        than FEW_RECORDS, or a value that is not a number: the column path names the field).

        The whole matrix comes from one numpy conversion of the rows (features in schema order,
        category codes in place, NaN placeholders for the tail), then the tail is computed on the
        rows' float32 values widened to Python floats, as `astype(float64)` does."""
        if not records or len(records) > FEW_RECORDS:
            return None
        code_of, tail_nan = self.code_of, self.tail_nan
        rows = []
        for r in records:
            row = [r.get(name) for name in self.names]
            for _, i, table, missing, unseen in self.categorical:
                row[i] = code_of(row[i], table, missing, unseen)
            row += tail_nan
            rows.append(row)
        try:
            out = np.array(rows, dtype=np.float32)
        except (TypeError, ValueError):
            return None
        if not tail_nan:
            return out
        k = len(self.names)
        base = out[:, :k].tolist()
        tails: list[list[float]] = [[] for _ in base]
        for _, array_fn, scalar, inputs in self.derived:
            if scalar is not None:
                for row, tail in zip(base, tails):
                    tail.append(scalar(*[row[j] for j in inputs]))
                continue
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # the array op, once for all rows
                values = array_fn(*(np.array([row[j] for row in base], dtype=np.float64) for j in inputs)).tolist()
            for tail, v in zip(tails, values):
                tail.append(v)
        for row, tail in zip(base, tails):
            tail += [1.0 if row[j] != row[j] else 0.0 for j in self.indicator_src]
        with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, as in the array path
            out[:, k:] = tails
        return out

    def fill_few_columns(self, out: np.ndarray, cols: Mapping[str, Any],
                         to_float32: Callable[[Any, str], np.ndarray]) -> None:
        """The schema features of a column mapping of at most FEW_ROWS rows, into `out[:, :k]`: one
        numpy conversion of a flat list for all numeric fields and one for all category codes.

        `to_float32(column, name)` is the general path's conversion; a value that is not a number
        sends every numeric field through it, so the error names the field."""
        n = out.shape[0]
        try:
            flat = [v for c, _ in self.numeric for v in cols[c]]
            out[:, self.numeric_idx] = np.array(flat, dtype=np.float32).reshape(len(self.numeric), n).T
        except (TypeError, ValueError):
            for name, i in self.numeric:
                out[:, i] = to_float32(cols[name], name)
        if self.categorical:
            code_of = self.code_of
            out[:, self.categorical_idx] = np.array(
                [[code_of(v, table, missing, unseen) for v in cols[name]]
                 for name, _, table, missing, unseen in self.categorical], dtype=np.float32).T
