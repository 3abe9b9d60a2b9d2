"""The oracle: exact, calibrated, computed from features the events really have; missingness and drift."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcore.synth.events import EventSpec
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.oracle import ORACLE_FEATURES, from_features


def _dataset(months):
    """The dataset months (lead-in excluded) as one frame of the oracle's features, label and oracle."""
    parts = []
    for m in months:
        if m.lead_in:
            continue
        df = pd.DataFrame({k: np.asarray(m.features[k]) for k in ORACLE_FEATURES})
        y = np.zeros(len(df), dtype=np.int8)
        y[m.labels["row"]] = m.labels["is_fraud"]
        df["is_fraud"], df["fraud_probability"], df["month"] = y, m.oracle, m.dataset_month
        df["transaction_id"], df["session"] = m.auth["transaction_id"], m.auth["session"]
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def data(months_200k):
    return _dataset(months_200k[1])


def test_oracle_is_calibrated_against_labels(data):
    bins = pd.qcut(data.fraud_probability, 10, labels=False, duplicates="drop")
    observed = data.groupby(bins).is_fraud.mean()
    expected = data.groupby(bins).fraud_probability.mean()
    se = np.sqrt(expected * (1 - expected) / data.groupby(bins).size())
    assert (np.abs(observed - expected) <= 4 * se + 1e-4).all()
    top = data.fraud_probability > 0.3
    assert top.sum() > 100
    assert abs(data.is_fraud[top].mean() - data.fraud_probability[top].mean()) < 0.06


def test_oracle_is_a_function_of_features_and_date(events_200k, months_200k):
    """Recomputed from the features (as a frame, categories as strings) and the manifest's month terms."""
    s, months = months_200k
    m = months[8]
    frame = pd.DataFrame({k: np.asarray(m.features[k]) for k in ORACLE_FEATURES})
    for name in ("entry_mode", "avs_result", "payment_method", "device_type", "channel", "merchant_category"):
        frame[name] = pd.Categorical.from_codes(frame[name].astype(int), s.codes.categories(name))
    frame["event_time"] = pd.Timestamp(s.clock.origin) + pd.to_timedelta(m.auth["t"], unit="s")
    again = from_features(s.spec, s.codes, frame, events_200k.manifest["oracle_terms"])
    np.testing.assert_allclose(again, m.oracle, rtol=1e-12, atol=0)


def test_oracle_separates_fraud_on_the_holdout(data):
    from sklearn.metrics import average_precision_score

    hold = data.month >= 15
    ap = average_precision_score(data.is_fraud[hold], data.fraud_probability[hold])
    assert 0.40 < ap < 0.80  # the spec band [0.50, 0.70] is checked at 1M rows by benchmarks/event_difficulty.py


def test_merchant_risk_is_missing_about_eight_percent_and_informative(data):
    missing = data.merchant_risk_score.isna()
    assert 0.06 <= missing.mean() <= 0.10
    assert (missing == data.merchant_chargeback_rate_90d.isna()).all()
    assert data.is_fraud[missing].mean() > data.is_fraud[~missing].mean()


def test_customer_history_is_missing_about_three_percent_mostly_new_users(data):
    missing = data.avg_amount_30d.isna()
    assert 0.02 <= missing.mean() <= 0.04
    new = data.account_age_days < 30
    assert missing[new].mean() > 10 * missing[~new].mean()
    assert missing[new].sum() > 3 * missing[~new].sum()
    assert data.is_fraud[missing].mean() > 2 * data.is_fraud.mean()


def test_fraud_is_event_shaped(data):
    """Bursts, takeovers and ring accounts leave their mark in the computed aggregates."""
    cnp = ~data.card_present.astype(bool)
    rate = data.is_fraud.mean()
    assert data.is_fraud[cnp & (data.ip_velocity >= 5)].mean() > 10 * rate      # card testing
    assert data.is_fraud[data.failed_logins_24h >= 2].mean() > 10 * rate         # account takeover
    assert data.is_fraud[(data.account_age_days < 3) & (data.email_domain_risk > 0.3)].mean() > 10 * rate
    for session in range(1, 5):  # every attack type yields rows the oracle scores far above the average
        assert data.fraud_probability[data.session == session].mean() > 10 * rate, session


def test_wallet_pattern_drifts_in_and_velocity_fades(data, schema):
    c = Codes(schema)
    wallet = (data.payment_method == c.payment_method.digital_wallet) \
        & data.merchant_category.isin(c.many("merchant_category", ["gaming", "digital_goods"])) \
        & data.device_type.isin(c.many("device_type", ["ios_app", "android_app"]))
    early = data.fraud_probability[wallet & (data.month < 9)].mean()
    mid = data.fraud_probability[wallet & data.month.between(10, 12)].mean()
    late = data.fraud_probability[wallet & (data.month >= 15)].mean()
    assert early < mid < late
    burst = (data.ip_velocity >= 5) & ~data.card_present.astype(bool)
    fp = data.fraud_probability
    assert fp[burst & (data.month < 4)].mean() > fp[burst & (data.month >= 14)].mean()


def test_spec_constants_are_what_the_data_was_made_with(events_200k):
    assert events_200k.manifest["spec"] == EventSpec().as_dict()


def test_logistic_regression_stays_well_below_the_oracle(data, schema, months_200k):
    """The difficulty spec's second half at a test-sized sample, on the features the oracle reads (the full
    check, every feature from the engine at 1M rows, is benchmarks/event_difficulty.py)."""
    import dataclasses

    from sklearn.metrics import average_precision_score

    from fraudcore.baseline import fit_logistic_baseline, score_logistic_baseline

    s, _ = months_200k
    frame = data.copy()
    for name in ("entry_mode", "avs_result", "payment_method", "device_type", "channel", "merchant_category"):
        frame[name] = pd.Categorical.from_codes(frame[name].astype(int), s.codes.categories(name))
    used = dataclasses.replace(schema, fields=tuple(f for f in schema.fields
                                                    if f.role != "feature" or f.name in ORACLE_FEATURES))
    hold = (frame.month >= 15).to_numpy()
    lr = fit_logistic_baseline(used, frame[~hold])
    lr_ap = average_precision_score(frame.is_fraud[hold], score_logistic_baseline(used, lr, frame[hold]))
    oracle_ap = average_precision_score(frame.is_fraud[hold], frame.fraud_probability[hold])
    assert oracle_ap - lr_ap >= 0.05
