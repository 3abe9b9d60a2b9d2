"""A random event log of realistic shape, generated from the declarations alone (numpy, seeded).

For tests and the benchmark until the event-level generator lands. It is not the synthetic dataset:
no fraud pattern, no oracle. Ids follow the declared refs; categories come from the schema field of the
same name (or, for `x_country`, the field `country`).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from fraudcore.features.featureset import FeatureSet
from fraudcore.features.partitions import month_bounds

# rows of a table per target event (entities), or per day (snapshots: keys published each day)
DEFAULT_RATIOS = {"customers": 1 / 50, "cards": 1 / 40, "merchants": 1 / 1000, "bins": 1 / 5000,
                  "devices": 1 / 30, "ips": 1 / 25, "email_domains": 1 / 20000}
STREAM_RATIO = 0.3
NULL_RATE = 0.05


def _categories(fs: FeatureSet, column: str) -> list[str]:
    for name in (column, column.rsplit("_", 1)[-1]):
        if name in fs.schema.by_name and fs.schema[name].dtype == "category":
            return list(fs.schema[name].categories or ())
    return ["a", "b", "c"]


def _column(fs: FeatureSet, table: str, column: str, n: int, sizes: Mapping[str, int], span: tuple[int, int],
            rng: np.random.Generator) -> object:
    decl = fs.tables[table]
    dtype = decl.columns[column]
    if column in decl.refs:
        k = sizes[decl.refs[column]]
        return (np.floor(k * rng.random(n) ** 2)).astype(np.int64) + 1     # skewed: a few busy entities
    if dtype == "timestamp":
        lo, hi = span
        secs = rng.integers(lo // 10**9, hi // 10**9, n)
        return pd.to_datetime(secs * 10**9)
    if dtype == "int":
        return rng.integers(0, 2, n) if column.startswith("is_") else rng.integers(1, 13, n)
    if dtype == "float":
        f = fs.schema.by_name.get(column)
        values = rng.random(n) if (f is not None and f.max is not None and f.max <= 1) else rng.lognormal(3.5, 1.2, n)
        values[rng.random(n) < (NULL_RATE if decl.kind == "snapshot" else 0)] = np.nan
        return values
    if dtype == "bool":
        return rng.random(n) < 0.85
    cats = _categories(fs, column)
    return pd.Categorical.from_codes(rng.integers(0, len(cats), n), categories=cats)


def toy_event_log(fs: FeatureSet, n_target: int, seed: int, months: list[str],
                  ratios: Mapping[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """Tables by name, covering `months` ('YYYY-MM'); the target stream has `n_target` events."""
    rng = np.random.default_rng(seed)
    ratio = {**DEFAULT_RATIOS, **(ratios or {})}
    span = (month_bounds(min(months))[0], month_bounds(max(months))[1])
    days = (span[1] - span[0]) // 86_400_000_000_000
    sizes = {n: max(3, int(n_target * ratio.get(n, 1 / 50))) for n, t in fs.tables.tables.items() if t.kind == "entity"}
    entity_span = (span[0] - 3 * 365 * 86_400_000_000_000, span[1])
    out: dict[str, pd.DataFrame] = {}
    for name, decl in fs.tables.tables.items():
        if decl.kind == "entity":
            n = sizes[name]
            cols = {c: _column(fs, name, c, n, sizes, entity_span, rng) for c in decl.columns if c != decl.key}
            out[name] = pd.DataFrame({decl.key: np.arange(1, n + 1, dtype=np.int64), **cols})
        elif decl.kind == "stream":
            n = n_target if name == fs.target else int(n_target * STREAM_RATIO)
            cols = {c: _column(fs, name, c, n, sizes, span, rng) for c in decl.columns if c != decl.id}
            out[name] = pd.DataFrame({decl.id: np.arange(1, n + 1, dtype=np.int64), **cols})
        else:
            k = sizes[decl.refs[decl.key]]
            per_day = min(k, 400)
            keys = np.concatenate([rng.choice(k, per_day, replace=False) + 1 for _ in range(days)])
            when = np.repeat(span[0] + np.arange(days, dtype=np.int64) * 86_400_000_000_000, per_day)
            n = len(keys)
            cols = {c: _column(fs, name, c, n, sizes, span, rng) for c in decl.columns if c not in (decl.key, decl.time)}
            out[name] = pd.DataFrame({decl.time: pd.to_datetime(when), decl.key: keys.astype(np.int64), **cols})
    return out
