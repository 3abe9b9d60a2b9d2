"""The compiled explainer reproduces LightGBM's own exact TreeSHAP (`pred_contrib`)."""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from serving_support import matrix_with_edge_values, special_values_case

from fraudcore.bundle import load_bundle
from fraudcore.explain import field_contributions, top_reasons
from fraudcore.serving.fastshap import TreeExplainer


def test_equals_pred_contrib_on_the_bundle_model(bundle_a, holdout, np_rng):
    bundle = load_bundle(bundle_a)
    X = matrix_with_edge_values(bundle, holdout, np_rng)
    exact = bundle.booster.predict(X, pred_contrib=True)
    ours = TreeExplainer(bundle.booster).contributions(X)
    np.testing.assert_allclose(ours, exact, rtol=1e-9, atol=1e-9)


def test_one_row_equals_the_same_row_in_a_batch(bundle_a, holdout):
    bundle = load_bundle(bundle_a)
    X = bundle.pipeline.transform(holdout.head(50))
    ex = TreeExplainer(bundle.booster)
    batch = ex.contributions(X)
    for i in (0, 17, 49):
        np.testing.assert_array_equal(ex.contributions(X[i:i + 1])[0], batch[i])


def test_routes_rows_like_lightgbm(bundle_a, holdout, np_rng):
    """The decisions at every node reproduce pred_leaf: following them reaches LightGBM's leaf."""
    bundle = load_bundle(bundle_a)
    X = matrix_with_edge_values(bundle, holdout, np_rng)[:100]
    ex = TreeExplainer(bundle.booster)
    goes = ex.decisions(X)
    f = ex._flat
    leaves = bundle.booster.predict(X, pred_leaf=True)
    dump = bundle.booster.dump_model()
    for t, tree in enumerate(dump["tree_info"][:30]):
        for r in range(len(X)):
            node, i = tree["tree_structure"], int(f.starts[t])
            while "split_feature" in node:
                if goes[r, i]:
                    node, i = node["left_child"], int(f.left[i])
                else:
                    right_start = int(f.left[i])
                    node = node["right_child"]
                    # the right child follows the whole left subtree in pre-order
                    i = _next_sibling(f, right_start)
            assert node["leaf_index"] == leaves[r, t]


def _next_sibling(f, left_child: int) -> int:
    """Index after the subtree rooted at `left_child` (pre-order layout)."""
    end, todo = left_child, 1
    while todo:
        todo -= 1
        if not f.is_leaf[end]:
            todo += 2
        end += 1
    return end


@pytest.mark.parametrize("params", [
    {"zero_as_missing": True},
    {"use_missing": False},
    {"max_cat_to_onehot": 64},
])
def test_missing_types_and_categorical_splits(params, np_rng):
    n = 3000
    X = np_rng.normal(size=(n, 5)).astype(np.float32)
    X[:, 3] = np_rng.integers(0, 6, n)
    X[np_rng.random((n, 5)) < 0.1] = np.nan
    X[np_rng.random((n, 5)) < 0.05] = 0.0
    y = ((np.nan_to_num(X[:, 0]) + (X[:, 3] == 2) + np_rng.normal(0, 0.5, n)) > 0.8).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1,
                         "min_data_in_leaf": 5, **params},
                        lgb.Dataset(X, y, categorical_feature=[3]), num_boost_round=20)
    exact = booster.predict(X[:300], pred_contrib=True)
    np.testing.assert_allclose(TreeExplainer(booster).contributions(X[:300]), exact, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"use_missing": False}])
def test_values_at_the_zero_threshold_and_infinities(params, np_rng):
    """Each missing type's special values: |v| <= kZeroThreshold (1e-35) is zero under type Zero, NaN is
    0.0 under type None, and LightGBM clamps values to +-1e300, so +inf goes left at a split whose
    threshold is 1e300 (the one that separates NaN from every number)."""
    booster, X = special_values_case(params, np_rng)
    ex = TreeExplainer(booster)
    np.testing.assert_allclose(ex.contributions(X), booster.predict(X, pred_contrib=True), rtol=1e-9, atol=1e-9)


def test_categorical_values_lightgbm_truncates_or_sends_right(np_rng):
    """static_cast<int> truncates toward zero, so -0.5 is category 0; NaN, values <= -1 and categories
    past every bitset go right."""
    n = 3000
    X = np_rng.normal(size=(n, 4))
    X[:, 2] = np_rng.integers(0, 6, n)
    y = ((X[:, 0] + np.isin(X[:, 2], (0, 2)) + np_rng.normal(0, 0.5, n)) > 0.8).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1,
                         "min_data_in_leaf": 5}, lgb.Dataset(X, y, categorical_feature=[2]), num_boost_round=20)
    X = X[:60].copy()
    X[:, 2] = np.resize([-0.5, -0.99, -1.0, -1.5, 0.5, 2.7, 5.99, 6.0, 1e12, -1e12, np.nan, -0.0, 0.0, 2.0, 5.0], 60)
    ex = TreeExplainer(booster)
    np.testing.assert_allclose(ex.contributions(X), booster.predict(X, pred_contrib=True), rtol=1e-9, atol=1e-9)


def test_single_leaf_trees_and_stumps(np_rng):
    """A tree that never split (here the first: its feature is constant) credits no feature."""
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    first = lgb.train(params, lgb.Dataset(np.ones((300, 3)), np_rng.integers(0, 2, 300)), num_boost_round=1)
    X = np_rng.normal(size=(300, 3))
    y = (X[:, 0] + np_rng.normal(0, 0.3, 300) > 0).astype(int)
    booster = lgb.train({**params, "num_leaves": 2}, lgb.Dataset(X, y), num_boost_round=5, init_model=first)
    splits = ["split_feature" in t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    assert splits == [False] + [True] * 5
    exact = booster.predict(X[:50], pred_contrib=True)
    np.testing.assert_allclose(TreeExplainer(booster).contributions(X[:50]), exact, rtol=1e-9, atol=1e-9)


def test_trees_deeper_than_one_vector_of_quadrature_nodes(np_rng):
    """Paths with more than 16 distinct features need more than 8 quadrature nodes: such trees use a
    16-node rule, explained 8 nodes at a time."""
    X = np_rng.normal(size=(3000, 80))
    booster = lgb.train({"objective": "binary", "num_leaves": 1000, "min_data_in_leaf": 1,
                         "min_sum_hessian_in_leaf": 0, "max_bin": 15, "verbose": -1, "num_threads": 1},
                        lgb.Dataset(X, np_rng.integers(0, 2, 3000)), num_boost_round=2)
    ex = TreeExplainer(booster)
    assert ex._flat.n_quad.max() > 8
    exact = booster.predict(X[:100], pred_contrib=True)
    np.testing.assert_allclose(ex.contributions(X[:100]), exact, rtol=1e-9, atol=1e-9)


def test_models_past_int16_record_fields(np_rng):
    """A feature index past 8191 does not fit the int16 records: the explainer stores int32 ones."""
    X = np_rng.normal(size=(400, 8300))
    y = (X[:, 8250] + X[:, 3] + np_rng.normal(0, 0.3, 400) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1,
                         "min_data_in_leaf": 5}, lgb.Dataset(X, y), num_boost_round=3)
    ex = TreeExplainer(booster)
    assert ex._plan.split_i.dtype == np.int32
    exact = booster.predict(X[:50], pred_contrib=True)
    np.testing.assert_allclose(ex.contributions(X[:50]), exact, rtol=1e-9, atol=1e-9)


def test_reasons_match_the_bundle_explanations(bundle_a, holdout):
    bundle = load_bundle(bundle_a)
    rows = holdout.head(200)
    expected = bundle.explain(rows, k=3)
    X = bundle.pipeline.transform(rows)
    fc, fields = field_contributions(TreeExplainer(bundle.booster).contributions(X), bundle.pipeline)
    got = top_reasons(fc, fields, rows, 3)
    assert [[r["feature"] for r in row] for row in got] == [[r["feature"] for r in row] for row in expected]
    flat_got = [r["contribution"] for row in got for r in row]
    flat_exp = [r["contribution"] for row in expected for r in row]
    np.testing.assert_allclose(flat_got, flat_exp, rtol=1e-9, atol=1e-12)
