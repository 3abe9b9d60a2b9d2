"""Hypothesis strategies derived from the schema: valid raw records and deliberately invalid ones.

Used by the property tests of the pipeline, the bundle, the server and validation. It lives under
`tests/` because it needs hypothesis, a dev extra; test modules import it as `strategies` (pytest.ini
puts `tests/` on the path).
"""
from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from fraudcore.schema import Field, Schema


def value_strategy(f: Field) -> st.SearchStrategy[Any]:
    """Valid raw JSON-like values for one field (None included when the field is nullable)."""
    if f.dtype == "category":
        base: st.SearchStrategy[Any] = st.sampled_from(list(f.categories or ()))
    elif f.dtype == "bool":
        base = st.booleans()
    elif f.dtype == "int":
        lo = int(f.min) if f.min is not None else -(2**31)
        hi = int(f.max) if f.max is not None else 2**31 - 1
        base = st.integers(min_value=lo, max_value=min(hi, lo + 10**6))
    elif f.dtype == "float":
        lo = f.min if f.min is not None else -1e9
        hi = f.max if f.max is not None else 1e9
        base = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, width=32)
    else:
        base = st.text(min_size=1, max_size=12)
    return st.one_of(st.none(), base) if f.nullable else base


def record_strategy(schema: Schema, features_only: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A valid raw record: every feature (and optionally the id) with a value allowed by the schema."""
    fields = schema.features if features_only else tuple(f for f in schema.fields if f.role in ("feature", "id"))
    return st.fixed_dictionaries({f.name: value_strategy(f) for f in fields})


def invalid_value_strategy(f: Field) -> st.SearchStrategy[Any]:
    """A value that violates the field's declaration."""
    options: list[st.SearchStrategy[Any]] = [st.just([1, 2]), st.just({"x": 1})]
    if not f.nullable:
        options.append(st.none())
    if f.dtype in ("float", "int"):
        options += [st.just("not-a-number"), st.just(math.nan), st.just(math.inf)]
        if f.min is not None:
            options.append(st.floats(max_value=f.min - 1, min_value=f.min - 1e6, allow_nan=False))
        if f.max is not None:
            options.append(st.floats(min_value=f.max + 1, max_value=f.max + 1e6, allow_nan=False))
        if f.dtype == "int":
            options.append(st.just(1.5 if f.min is None or f.min <= 1.5 else f.min + 0.5))
    elif f.dtype == "bool":
        options += [st.just("maybe"), st.just(7)]
    elif f.dtype == "category":
        options += [st.just(12), st.just(True)]
    return st.one_of(options)


def invalid_record_strategy(schema: Schema) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """(record, field name) where exactly that field is invalid or missing."""
    names = [f.name for f in schema.features]

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
        record = draw(record_strategy(schema))
        name = draw(st.sampled_from(names))
        if draw(st.booleans()) and not schema[name].nullable:
            del record[name]
        else:
            record[name] = draw(invalid_value_strategy(schema[name]))
        return record, name

    return build()
