"""Raw scores of a LightGBM booster by walking its trees in compiled code, for serving's small batches.

Why not `Booster.predict`: for the one to a few rows a request or a micro-batch carries, its cost
is mostly per-call overhead (argument checks, ctypes, thread setup), and LightGBM's single-row C API
still pays much of it. The walk itself is the small part: this module does only the walk
(docs/serving.md#where-the-time-goes-in-the-model has the figures). `Booster.predict` stays the
fallback (`fraud serve --no-compiled-walk`).

It is the same arithmetic, not an approximation: each split follows LightGBM's
`Tree::NumericalDecision` / `CategoricalDecision` (missing types None / Zero / NaN with the default
direction, NaN treated as 0.0 unless the missing type is NaN, values clamped to +-1e300,
categorical bitsets with negative and NaN values going right), and leaf values are added in LightGBM's order (tree 0 first) into a double
starting at 0.0, as `GBDT::PredictRaw` does. So raw scores are bit-identical to
`booster.predict(X, raw_score=True)`; the tests check that on models with numeric, categorical,
missing-value and single-leaf trees.
"""
from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from numba import njit

from fraudcore.serving.fastshap import (MISSING_TYPES, VALUE_LIMIT, ZERO_THRESHOLD, UnsupportedModelError,
                                       supported_dump)

# Split kinds: numeric with missing type None / Zero / NaN (fastshap's codes), and categorical.
_ZERO_KIND, _NAN_KIND, _CAT = MISSING_TYPES["Zero"], MISSING_TYPES["NaN"], 3


class _Builder:
    """Flattens `dump_model()` trees: internal nodes >= 0, a leaf as ~(its index in `leaf_value`)."""

    def __init__(self) -> None:
        self.feat: list[int] = []
        self.thr: list[float] = []
        self.kind: list[int] = []
        self.default_left: list[bool] = []
        self.left: list[int] = []
        self.right: list[int] = []
        self.cat_lo: list[int] = []
        self.cat_hi: list[int] = []
        self.cat_words: list[int] = []
        self.leaf_value: list[float] = []

    def add(self, node: dict[str, Any]) -> int:
        if "split_feature" not in node:
            self.leaf_value.append(float(node.get("leaf_value", 0.0)))
            return ~(len(self.leaf_value) - 1)
        i = len(self.feat)
        self.feat.append(int(node["split_feature"]))
        self.default_left.append(bool(node.get("default_left", False)))
        self.left.append(0)
        self.right.append(0)
        lo = len(self.cat_words)
        if node["decision_type"] == "==":
            cats = [int(c) for c in str(node["threshold"]).split("||")]
            words = [0] * (max(cats) // 32 + 1)
            for c in cats:
                words[c // 32] |= 1 << (c % 32)
            self.cat_words.extend(words)
            self.kind.append(_CAT)
            self.thr.append(0.0)
        elif node["decision_type"] == "<=":
            if node.get("missing_type", "None") not in MISSING_TYPES:
                raise UnsupportedModelError(f"missing type {node.get('missing_type')!r} is not supported")
            self.kind.append(MISSING_TYPES[node.get("missing_type", "None")])
            self.thr.append(float(node["threshold"]))
        else:
            raise UnsupportedModelError(f"decision type {node['decision_type']!r} is not supported")
        self.cat_lo.append(lo)
        self.cat_hi.append(len(self.cat_words))
        self.left[i] = self.add(node["left_child"])
        self.right[i] = self.add(node["right_child"])
        return i


@njit(cache=True, nogil=True)
def _raw_scores(X, roots, feat, thr, kind, default_left, left, right, cat_lo, cat_hi, cat_words, leaf_value,
                out):  # pragma: no cover - compiled
    for r in range(X.shape[0]):
        x = X[r]
        total = 0.0
        for t in range(roots.shape[0]):
            node = roots[t]
            while node >= 0:
                v = x[feat[node]]
                k = kind[node]
                if k == _CAT:  # categorical: NaN and negatives go right, else the bitset decides
                    go_left = False
                    if v == v:
                        c = int(v)  # C++ static_cast<int>: truncation toward zero
                        if c >= 0:
                            w = cat_lo[node] + (c >> 5)
                            if w < cat_hi[node]:
                                go_left = (cat_words[w] >> (c & 31)) & 1 == 1
                else:
                    if v != v and k != _NAN_KIND:
                        v = 0.0
                    elif v > VALUE_LIMIT:  # LightGBM's clamp: +inf goes left at a 1e300 split
                        v = VALUE_LIMIT
                    elif v < -VALUE_LIMIT:
                        v = -VALUE_LIMIT
                    if (k == _ZERO_KIND and abs(v) <= ZERO_THRESHOLD) or (k == _NAN_KIND and v != v):
                        go_left = default_left[node]
                    else:
                        go_left = v <= thr[node]
                node = left[node] if go_left else right[node]
            total += leaf_value[~node]
        out[r] = total
    return out


class TreePredictor:
    """`booster.predict(X, raw_score=True)` for a binary / regression LightGBM model, compiled."""

    def __init__(self, booster: lgb.Booster) -> None:
        dump = supported_dump(booster)
        b = _Builder()
        roots = [b.add(t["tree_structure"]) for t in dump["tree_info"]]
        self.n_columns = int(dump["max_feature_idx"]) + 1
        self._args = (np.asarray(roots, np.int32), np.asarray(b.feat, np.int32), np.asarray(b.thr, np.float64),
                      np.asarray(b.kind, np.int8), np.asarray(b.default_left, np.bool_),
                      np.asarray(b.left, np.int32), np.asarray(b.right, np.int32),
                      np.asarray(b.cat_lo, np.int32), np.asarray(b.cat_hi, np.int32),
                      np.asarray(b.cat_words or [0], np.uint32), np.asarray(b.leaf_value or [0.0], np.float64))

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds for a binary model) of the rows of X, float64, shape (n,)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_columns:
            raise ValueError(f"X must have shape (n, {self.n_columns}); got {X.shape}")
        out = np.empty(X.shape[0], dtype=np.float64)
        return _raw_scores(np.ascontiguousarray(X, dtype=np.float64), *self._args, out)
