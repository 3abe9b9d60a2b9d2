"""The compiled tree walk gives LightGBM's own raw scores, bit for bit, on every kind of split.

Timing (not asserted; benchmarks/latency.py reports it): on a 500-tree, 63-leaf model one row
takes ~16 us against ~43 us for `Booster.predict` and ~25 us for LightGBM's single-row C API.
"""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from serving_support import matrix_with_edge_values, special_values_case

from fraudcore.bundle import load_bundle
from fraudcore.serving.fastpredict import TreePredictor
from fraudcore.serving.fastshap import UnsupportedModelError


def _train(X, y, params, rounds=30, categorical=()):
    ds = lgb.Dataset(X, y, categorical_feature=list(categorical) or "auto", free_raw_data=False)
    return lgb.train({"verbose": -1, "num_threads": 1, "seed": 3, **params}, ds, rounds)


def _edge_rows(rng, n, d, cat_cols=()):
    X = rng.normal(size=(n, d))
    X[rng.random((n, d)) < 0.1] = np.nan
    X[rng.random((n, d)) < 0.05] = 0.0
    X[rng.random((n, d)) < 0.02] = 1e-36  # inside LightGBM's zero band
    for c in cat_cols:
        X[:, c] = rng.integers(0, 40, n)
        X[rng.random(n) < 0.05, c] = np.nan
        X[rng.random(n) < 0.03, c] = -1.0
        X[rng.random(n) < 0.03, c] = 500.0  # beyond every bitset
    return X


def test_bundle_model_bit_identical_with_edge_values(bundle_a, holdout, np_rng):
    bundle = load_bundle(bundle_a)
    X = matrix_with_edge_values(bundle, holdout, np_rng)
    got = TreePredictor(bundle.booster).raw(X)
    np.testing.assert_array_equal(got, bundle.booster.predict(X, raw_score=True))


@pytest.mark.parametrize("params", [
    {"objective": "binary", "num_leaves": 31},
    {"objective": "binary", "num_leaves": 15, "zero_as_missing": True},  # missing type Zero
    {"objective": "binary", "num_leaves": 15, "use_missing": False},     # missing type None
    {"objective": "regression", "num_leaves": 7, "max_cat_to_onehot": 64},
])
def test_numeric_and_categorical_splits_bit_identical(params, np_rng):
    d, cats = 6, (1, 4)
    X = _edge_rows(np_rng, 4000, d, cats)
    logit = np.nan_to_num(X[:, 0]) - 0.8 * np.nan_to_num(X[:, 2]) + (np.nan_to_num(X[:, 1]) % 3 == 0) \
        + 0.5 * np.isnan(X[:, 3])
    y = (np_rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(float)
    booster = _train(X, y if params["objective"] == "binary" else logit, params, categorical=cats)
    test = _edge_rows(np_rng, 1500, d, cats)
    got = TreePredictor(booster).raw(test)
    np.testing.assert_array_equal(got, booster.predict(test, raw_score=True))
    for i in (0, 7, 1499):  # one row alone, as a request arrives
        assert TreePredictor(booster).raw(test[i:i + 1])[0] == got[i]


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"use_missing": False}])
def test_zero_band_infinities_and_huge_values(params, np_rng):
    """|v| <= 1e-35 is zero under missing type Zero, NaN is 0.0 under None, and LightGBM clamps values
    to +-1e300, so +inf goes left at the split with threshold 1e300 that separates NaN."""
    booster, test = special_values_case(params, np_rng)
    np.testing.assert_array_equal(TreePredictor(booster).raw(test), booster.predict(test, raw_score=True))


def test_single_leaf_trees_add_their_value(np_rng):
    X = np_rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(float)
    # min_data_in_leaf above the row count: no split is possible, every tree is one leaf
    booster = _train(X, y, {"objective": "binary", "min_data_in_leaf": 500}, rounds=3)
    assert all(t["num_leaves"] == 1 for t in booster.dump_model()["tree_info"])
    np.testing.assert_array_equal(TreePredictor(booster).raw(X), booster.predict(X, raw_score=True))


def test_rejects_what_it_cannot_reproduce(np_rng):
    X = np_rng.normal(size=(300, 3))
    y = np_rng.integers(0, 3, 300)
    multi = _train(X, y, {"objective": "multiclass", "num_class": 3}, rounds=2)
    with pytest.raises(UnsupportedModelError, match="num_tree_per_iteration=3"):
        TreePredictor(multi)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3\); got \(2, 4\)"):
        TreePredictor(_train(X, (y > 0).astype(float), {"objective": "binary"}, rounds=2)).raw(np.zeros((2, 4)))
