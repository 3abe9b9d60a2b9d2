"""The drift reference: how the training data and its scores were distributed, as JSON.

Monitoring bins live traffic with `bin_counts` on the very edges stored here and compares with `psi`,
so reference and live frequencies always come from the same binning.

Numeric bins: edges are the training deciles (deduplicated), and the two end bins are open, so any
value, however far out, falls in a bin: (-inf, e0], (e0, e1], ..., (e_last, inf). Missing values are
not binned; each feature carries its missing rate instead. Categorical features bin by the schema's
categories plus "__unseen__" for anything else.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraudcore.pipeline import encode_category
from fraudcore.schema import Schema

UNSEEN = "__unseen__"
PROFILE_VERSION = 1
PSI_EPSILON = 1e-4


def _floats(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _quantile_edges(values: np.ndarray, n_bins: int) -> list[float]:
    if len(values) == 0:
        return []
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])).tolist()


def bin_counts(feature: Mapping[str, Any], values: Any) -> np.ndarray:
    """Counts of non-missing `values` in the bins of one profile entry (a feature or "score")."""
    if feature["kind"] == "categorical":
        cats = feature["categories"][:-1]  # the last bucket is UNSEEN
        k = len(cats)
        codes = encode_category(values, {c: i for i, c in enumerate(cats)}, missing=k + 1, unseen=k).astype(np.intp)
        return np.bincount(codes[codes <= k], minlength=k + 1)
    v = _floats(values)
    v = v[~np.isnan(v)]
    edges = np.asarray(feature["edges"], dtype=np.float64)
    return np.bincount(np.searchsorted(edges, v, side="left"), minlength=len(edges) + 1)


def missing_rate(feature: Mapping[str, Any], values: Any) -> float:
    """Share of `values` that are missing, by the same rule the pipeline uses."""
    n = len(values)
    if n == 0:
        return 0.0
    if feature["kind"] == "categorical":
        cats = feature["categories"][:-1]
        codes = encode_category(values, {c: i for i, c in enumerate(cats)}, missing=len(cats) + 1, unseen=len(cats))
        return float(np.mean(codes == len(cats) + 1))
    return float(np.isnan(_floats(values)).mean())


def freqs(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * len(counts)


@dataclass(frozen=True)
class ProfileBinning:
    """How the reference is binned: `n_bins` quantile bins per numeric feature, `score_bins` for the
    score. Edges come from at most `sample_rows` rows drawn with `seed`; frequencies count every row."""

    n_bins: int = 10
    score_bins: int = 20
    sample_rows: int = 1_000_000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_bins", "score_bins", "sample_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"profile binning {name!r} must be an integer >= 1; got {value!r}")


def build_profile(frame: pd.DataFrame | Mapping[str, Any], scores: Any, *, schema: Schema,
                  review_threshold: float, binning: ProfileBinning = ProfileBinning()) -> dict[str, Any]:
    """Profile every schema feature of `frame` (raw values) and the model's `scores` on it."""
    n_bins, score_bins, sample_rows = binning.n_bins, binning.score_bins, binning.sample_rows
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    if n == 0:
        raise ValueError("build_profile needs at least one row; got 0 scores")
    rng = np.random.default_rng(binning.seed)
    sample = np.sort(rng.choice(n, sample_rows, replace=False)) if n > sample_rows else None
    features: dict[str, Any] = {}
    for f in schema.features:
        col = frame[f.name]
        if len(col) != n:
            raise ValueError(f"column {f.name!r} has {len(col)} rows; the scores have {n}")
        if f.dtype == "category":
            entry: dict[str, Any] = {"kind": "categorical", "categories": [*(f.categories or ()), UNSEEN]}
        else:
            v = _floats(col)
            ref = v if sample is None else v[sample]
            entry = {"kind": "numeric", "edges": _quantile_edges(ref[~np.isnan(ref)], n_bins)}
            col = v
        entry["freqs"] = freqs(bin_counts(entry, col))
        entry["missing_rate"] = missing_rate(entry, col)
        features[f.name] = entry
    score = {"kind": "numeric", "edges": _quantile_edges(s if sample is None else s[sample], score_bins)}
    score["freqs"] = freqs(bin_counts(score, s))
    score["missing_rate"] = 0.0
    return {
        "version": PROFILE_VERSION, "n_rows": int(n), "features": features, "score": score,
        "review_threshold": float(review_threshold), "alert_rate": float(np.mean(s >= review_threshold)),
    }


def psi(expected_freqs: Any, actual_freqs: Any, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index, sum((a - e) * ln(a / e)); empty bins are floored at `epsilon`.

    Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 investigate.
    """
    e = np.asarray(expected_freqs, dtype=np.float64)
    a = np.asarray(actual_freqs, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"psi needs two 1-D frequency vectors of equal length; got {e.shape} and {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValueError(f"psi needs non-empty distributions; got sums {e.sum()} and {a.sum()}")
    e = np.clip(e / e.sum(), epsilon, None)
    a = np.clip(a / a.sum(), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_report(profile: Mapping[str, Any], data: pd.DataFrame | Mapping[str, Any],
                 scores: Any = None) -> dict[str, Any]:
    """PSI, missing rate and live bin frequencies per feature (and for scores, if given) of `data`
    against the profile, each column binned once."""
    out: dict[str, Any] = {}
    for name, ref in profile["features"].items():
        values = data[name]
        counts = bin_counts(ref, values)
        out[name] = {"psi": psi(ref["freqs"], counts) if counts.sum() and sum(ref["freqs"]) else None,
                     "missing_rate": missing_rate(ref, values), "ref_missing_rate": ref["missing_rate"],
                     "freqs": freqs(counts), "n": int(len(values))}
    if scores is not None:
        ref = profile["score"]
        s = np.asarray(scores, dtype=np.float64)
        counts = bin_counts(ref, s)
        out["__score__"] = {"psi": psi(ref["freqs"], counts) if len(s) else None, "freqs": freqs(counts),
                            "alert_rate": float(np.mean(s >= profile["review_threshold"])) if len(s) else None,
                            "ref_alert_rate": profile["alert_rate"], "n": int(len(s))}
    return out
