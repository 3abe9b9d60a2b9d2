"""Reason codes and importance in the analyst's terms: raw schema fields, not model columns.

Contributions are exact TreeSHAP from LightGBM itself (`pred_contrib=True`), in log-odds. A derived
feature (e.g. amount over the 30-day average) and a missing indicator are credited to the raw field
they come from (`FeaturePipeline.source_fields_`), so "amount" carries everything the model made of it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from fraudcore.pipeline import FeaturePipeline, is_missing
from fraudcore.schema import Schema


def contributions(booster: lgb.Booster, X: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """Exact TreeSHAP per model column, shape (n, n_columns + 1); the last column is the base value.

    Pass `num_threads=1` for one row: LightGBM's thread pool costs more than it saves there.
    """
    params = {} if num_threads is None else {"num_threads": num_threads}
    out = np.asarray(booster.predict(X, pred_contrib=True, **params))
    if out.ndim != 2 or out.shape[1] != X.shape[1] + 1:
        raise ValueError(f"pred_contrib returned shape {out.shape} for {X.shape[1]} columns; "
                         "a binary model is expected")
    return out


def field_contributions(contribs: np.ndarray, pipeline: FeaturePipeline) -> tuple[np.ndarray, list[str]]:
    """Sum model-column contributions per raw schema field: (n, n_fields) and the field names.

    The sums run column by column in a fixed order (not a matrix product), so a row gives the same
    numbers alone or in a batch.
    """
    fields = [str(f) for f in pipeline.feature_names_in_]
    pos = {f: i for i, f in enumerate(fields)}
    sources = pipeline.source_fields_
    if contribs.shape[1] != len(sources) + 1:
        raise ValueError(f"contributions have {contribs.shape[1] - 1} columns; the pipeline has {len(sources)}")
    if list(sources[:len(fields)]) != fields:
        raise ValueError("pipeline layout must start with the raw schema fields in order; got "
                         f"{list(sources[:len(fields)])}")
    out = np.array(contribs[:, :len(fields)], dtype=np.float64)
    for j in range(len(fields), len(sources)):
        out[:, pos[sources[j]]] += contribs[:, j]
    return out, fields


def _json_value(v: Any) -> Any:
    if is_missing(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _raw_value(X_raw: Any, field: str, row: int) -> Any:
    if isinstance(X_raw, list):  # records
        return _json_value(X_raw[row].get(field))
    col = X_raw[field]
    return _json_value(col.iloc[row] if isinstance(col, pd.Series) else col[row])


def top_reasons(field_contribs: np.ndarray, fields: Sequence[str],
                X_raw: pd.DataFrame | Mapping[str, Any] | list[Mapping[str, Any]],
                k: int = 3) -> list[list[dict[str, Any]]]:
    """Per row, up to k fields pushing the score up (contribution > 0), largest first."""
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k!r}")
    out = []
    for i, row in enumerate(field_contribs):
        # stable sort on -contribution: ties keep schema order, the same in a batch and alone
        idx = np.argsort(-row, kind="stable")[:k]
        out.append([{"feature": fields[j], "contribution": float(row[j]), "value": _raw_value(X_raw, fields[j], i)}
                    for j in idx if row[j] > 0])
    return out


def reason_codes(booster: lgb.Booster, pipeline: FeaturePipeline, X_raw: pd.DataFrame | Mapping[str, Any],
                 k: int = 3, X: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
    """Top-k reasons per row of raw input `X_raw` (transformed here unless `X` is given)."""
    M = pipeline.transform(X_raw) if X is None else X
    contribs = contributions(booster, M, num_threads=1 if len(M) == 1 else None)
    fc, fields = field_contributions(contribs, pipeline)
    return top_reasons(fc, fields, X_raw, k)


def field_importance(field_contribs: np.ndarray, fields: Sequence[str]) -> dict[str, float]:
    """Mean |SHAP| per raw field, largest first."""
    imp = np.abs(field_contribs).mean(axis=0)
    return {fields[j]: float(imp[j]) for j in np.argsort(-imp, kind="stable")}


def group_importance(field_contribs: np.ndarray, fields: Sequence[str], schema: Schema) -> dict[str, float]:
    """Mean |SHAP| per schema group, contributions summed within the group row by row first."""
    pos = {f: i for i, f in enumerate(fields)}
    out = {}
    for group, names in schema.groups().items():
        cols = [pos[n] for n in names if n in pos]
        if cols:
            out[group] = float(np.abs(field_contribs[:, cols].sum(axis=1)).mean())
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
