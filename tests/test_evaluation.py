"""Holdout evaluation pieces: slices by name, the headline numbers, the baseline's probability correction."""
from __future__ import annotations

import numpy as np
import pytest

from fraudcore import evaluation as E
from fraudcore.config import EvaluationConfig, load_train_config
from fraudcore.thresholds import choose_thresholds


def test_slices_cover_each_category_new_customers_and_missing_risk(small_frame, schema) -> None:
    masks = E.slice_masks(load_train_config().evaluation.for_schema(schema), schema, small_frame)
    pm = [k for k in masks if k.startswith("payment_method=")]
    assert len(pm) == len(schema["payment_method"].categories)
    assert sum(masks[k].sum() for k in pm) == small_frame["payment_method"].notna().sum()
    new = masks["new_customers (account_age_days < 30)"]
    assert new.sum() == (small_frame["account_age_days"] < 30).sum() > 0
    assert masks["merchant_risk_score missing"].sum() == small_frame["merchant_risk_score"].isna().sum() > 0


def test_headline_carries_the_registry_fields(small_frame, schema) -> None:
    y = small_frame[schema.label].to_numpy()
    oracle = small_frame[schema.oracle].to_numpy()
    noisy = np.clip(oracle * np.random.default_rng(0).lognormal(0, 0.5, len(y)), 0, 1)
    thr = choose_thresholds(y, noisy)
    hold = E.evaluate_scores(y, noisy, thr, None)
    head = E.headline(hold, hold, thr, E.oracle_figures(y, oracle, 0.2), hold)
    for key in ("pr_auc", "roc_auc", "recall_at_p20", "threshold", "oracle_pr_auc", "model_oracle_ratio", "lr_pr_auc"):
        assert key in head
    assert head["model_oracle_ratio"] == pytest.approx(head["pr_auc"] / head["oracle_pr_auc"])
    assert head["threshold"] == thr.review


def test_baseline_scores_stay_probabilities_after_downsampling(small_frame, schema) -> None:
    rng = np.random.default_rng(1)
    y = small_frame[schema.label].to_numpy()
    keep = (y == 1) | (rng.random(len(y)) < 0.2)
    scorer = E.baseline_scorer(schema, small_frame[keep], 0.2, seed=0, max_negatives=10**9)
    s = scorer.score(small_frame)
    assert 0.6 < s.mean() / y.mean() < 1.6


def test_compare_lists_differences() -> None:
    rows = E.compare({"pr_auc": 0.5, "roc_auc": 0.9}, {"pr_auc": 0.45, "roc_auc": 0.91})
    by = {r["metric"]: r for r in rows}
    assert by["pr_auc"]["difference"] == pytest.approx(0.05)
    assert by["recall_at_precision"]["difference"] is None
    assert E.compare({"pr_auc": 0.5}, None) == []
