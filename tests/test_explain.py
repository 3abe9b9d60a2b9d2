"""Reason codes: exact TreeSHAP credited to raw schema fields, the same alone as in a batch."""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from fraudcore.explain import (contributions, field_contributions, field_importance, group_importance,
                               reason_codes, top_reasons)
from fraudcore.pipeline import FeaturePipeline
from fraudcore.schema import paylink_schema
from fraudcore.synth import generate_frame

SEED = 31
SCHEMA = paylink_schema()


@pytest.fixture(scope="module")
def model() -> tuple[FeaturePipeline, lgb.Booster, pd.DataFrame]:
    train = generate_frame(20000, SEED)
    pipe = FeaturePipeline(SCHEMA).fit(train)
    ds = lgb.Dataset(pipe.transform(train), train[SCHEMA.label].to_numpy(), feature_name=pipe.feature_names_out_,
                     categorical_feature=pipe.categorical_indices_)
    params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.1, "verbose": -1, "num_threads": 1,
              "seed": SEED, "deterministic": True}
    booster = lgb.train(params, ds, num_boost_round=50)
    return pipe, booster, generate_frame(600, SEED + 1)


def test_contributions_add_up_to_the_raw_score(model) -> None:
    pipe, booster, rows = model
    X = pipe.transform(rows)
    c = contributions(booster, X)
    np.testing.assert_allclose(c.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-9)
    fc, fields = field_contributions(c, pipe)
    assert fields == list(SCHEMA.feature_names)
    np.testing.assert_allclose(fc.sum(axis=1) + c[:, -1], c.sum(axis=1), atol=1e-9)


def test_derived_and_indicator_columns_are_credited_to_their_field(model) -> None:
    pipe, booster, rows = model
    c = contributions(booster, pipe.transform(rows))
    fc, fields = field_contributions(c, pipe)
    for field in set(pipe.source_fields_[len(fields):]):
        cols = [j for j, src in enumerate(pipe.source_fields_) if src == field]
        assert len(cols) >= 2
        np.testing.assert_allclose(fc[:, fields.index(field)], c[:, cols].sum(axis=1), atol=1e-12)


def test_reasons_push_up_are_sorted_and_carry_raw_values(model) -> None:
    pipe, booster, rows = model
    reasons = reason_codes(booster, pipe, rows, k=3)
    assert len(reasons) == len(rows)
    assert sum(len(r) for r in reasons) > len(rows)  # most rows have something pushing up
    for i, row in enumerate(reasons):
        assert len(row) <= 3
        contribs = [r["contribution"] for r in row]
        assert all(v > 0 for v in contribs) and contribs == sorted(contribs, reverse=True)
        for r in row:
            raw = rows[r["feature"]].iloc[i]
            if pd.isna(raw):
                assert r["value"] is None
            else:
                assert r["value"] == (raw.item() if hasattr(raw, "item") else raw)


def test_one_row_alone_explains_like_in_the_batch(model) -> None:
    pipe, booster, rows = model
    batch = reason_codes(booster, pipe, rows.iloc[:40], k=3)
    for i in range(40):
        assert reason_codes(booster, pipe, rows.iloc[i:i + 1], k=3)[0] == batch[i]


def test_top_reasons_k_and_no_negative_reasons() -> None:
    fc = np.array([[0.5, -1.0, 0.2, 0.0]])
    raw = {"a": [1], "b": [2], "c": [None], "d": [4]}
    assert top_reasons(fc, ["a", "b", "c", "d"], raw, k=5) == [
        [{"feature": "a", "contribution": 0.5, "value": 1}, {"feature": "c", "contribution": 0.2, "value": None}]]
    with pytest.raises(ValueError, match="k must be >= 1; got 0"):
        top_reasons(fc, ["a", "b", "c", "d"], raw, k=0)


def test_importance_per_field_and_group(model) -> None:
    pipe, booster, rows = model
    fc, fields = field_contributions(contributions(booster, pipe.transform(rows)), pipe)
    fi = field_importance(fc, fields)
    assert list(fi.values()) == sorted(fi.values(), reverse=True) and set(fi) == set(fields)
    gi = group_importance(fc, fields, SCHEMA)
    assert set(gi) == set(SCHEMA.groups()) and all(v >= 0 for v in gi.values())
    # a group's importance is at most the sum of its fields' importances (|a+b| <= |a|+|b|)
    for group, names in SCHEMA.groups().items():
        assert gi[group] <= sum(fi[n] for n in names) + 1e-12
