"""The features the oracle reads, recomputed one transaction at a time from the written tables.

A plain loop over the contract's semantics (window [t - w, t), ties excluded, snapshots strictly before),
independent of the generator's vectorised code: if they agree, the oracle is a function of what the
events really say, which is what the feature engine computes too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def sample(events_200k, months_200k):
    _, months = months_200k
    feats = pd.concat([pd.DataFrame({**{k: np.asarray(v) for k, v in m.features.items()},
                                     "transaction_id": m.auth["transaction_id"], "session": m.auth["session"]})
                       for m in months], ignore_index=True).set_index("transaction_id")
    auth = events_200k.tables["authorisations"]
    rng = np.random.default_rng(3)
    attacks = feats.index[feats.session > 0].to_numpy()
    ids = np.concatenate([rng.choice(auth.transaction_id.to_numpy(), 150, replace=False),
                          rng.choice(attacks, 100, replace=False)])
    return feats, ids


def _latest_before(snap: pd.DataFrame, key: str, value, t, column: str) -> float:
    rows = snap[(snap[key] == value) & (snap.snapshot_at < t)]
    return np.nan if rows.empty else rows.loc[rows.snapshot_at.idxmax(), column]


def test_aggregates_match_a_per_transaction_loop(events_200k, sample):
    feats, ids = sample
    t_ = events_200k.tables
    auth, logins = t_["authorisations"], t_["logins"]
    by_cust = dict(tuple(auth.groupby("customer_id")))
    by_ip = dict(tuple(auth.groupby("ip_id")))
    failed = dict(tuple(logins[~logins.success].groupby("customer_id")))
    rows = auth.set_index("transaction_id").loc[ids]
    for tx, r in rows.iterrows():
        t = r.event_time
        mine = by_cust[r.customer_id]
        before = mine[mine.event_time < t]
        in24 = before[before.event_time >= t - DAY]
        in30 = before[before.event_time >= t - 30 * DAY]
        in7 = before[before.event_time >= t - 7 * DAY]
        ip = by_ip[r.ip_id]
        f = failed.get(r.customer_id, logins.iloc[:0])
        got = feats.loc[tx]
        assert got.transactions_24h == len(in24), tx
        assert got.declines_7d == (~in7.approved).sum(), tx
        expected_avg = in30.amount.mean() if len(in30) else np.nan
        np.testing.assert_allclose(got.avg_amount_30d, expected_avg, rtol=1e-12, err_msg=str(tx))
        assert got.ip_velocity == ((ip.event_time < t) & (ip.event_time >= t - pd.Timedelta(hours=1))).sum(), tx
        assert got.failed_logins_24h == ((f.event_time < t) & (f.event_time >= t - DAY)).sum(), tx
        if not r.card_present:
            in90 = before[before.event_time >= t - 90 * DAY]
            assert got.is_new_device == (not (in90.device_id == r.device_id).any()), tx


def test_reference_and_derived_features_match_the_tables(events_200k, sample):
    feats, ids = sample
    t_ = events_200k.tables
    rows = t_["authorisations"].set_index("transaction_id").loc[ids[:120]]
    customers = t_["customers"].set_index("customer_id")
    cards = t_["cards"].set_index("card_id")
    merchants = t_["merchants"].set_index("merchant_id")
    bins = t_["bins"].set_index("bin_id")
    ips = t_["ips"].set_index("ip_id")
    for tx, r in rows.iterrows():
        got, t = feats.loc[tx], r.event_time
        cust, card = customers.loc[r.customer_id], cards.loc[r.card_id]
        np.testing.assert_equal(got.merchant_risk_score, _latest_before(t_["merchant_risk"], "merchant_id",
                                                                        r.merchant_id, t, "merchant_risk_score"))
        np.testing.assert_equal(got.merchant_chargeback_rate_90d,
                                _latest_before(t_["merchant_risk"], "merchant_id", r.merchant_id, t,
                                               "merchant_chargeback_rate_90d"))
        assert got.card_bin_risk == _latest_before(t_["bin_risk"], "bin_id", card.bin_id, t, "card_bin_risk")
        assert got.email_domain_risk == _latest_before(t_["email_domain_risk"], "email_domain_id",
                                                       cust.email_domain_id, t, "email_domain_risk")
        assert got.hour_of_day == t.hour
        assert got.account_age_days == (t - cust.account_opened_at) // DAY
        assert got.is_international == (bins.loc[card.bin_id].bin_country != merchants.loc[r.merchant_id].country)
        assert got.ip_country_mismatch == (ips.loc[r.ip_id].ip_country != cust.billing_country)
