"""The event tables: contract columns and types, determinism, referential integrity, label timing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudcore.synth.events import EventSpec, generate_events, write_events
from fraudcore.synth.events.generate import iter_months

CONTRACT = {
    "customers": {"customer_id": "int64", "account_opened_at": "datetime64[ns]", "billing_country": "category",
                  "email_domain_id": "int64"},
    "cards": {"card_id": "int64", "customer_id": "int64", "bin_id": "int64", "first_seen_at": "datetime64[ns]"},
    "merchants": {"merchant_id": "int64", "merchant_category": "category", "country": "category",
                  "onboarded_at": "datetime64[ns]"},
    "bins": {"bin_id": "int64", "bin_country": "category"},
    "devices": {"device_id": "int64"},
    "ips": {"ip_id": "int64", "ip_country": "category"},
    "email_domains": {"email_domain_id": "int64"},
    "authorisations": {
        "transaction_id": "int64", "event_time": "datetime64[ns]", "customer_id": "int64", "card_id": "int64",
        "merchant_id": "int64", "device_id": "int64", "ip_id": "int64", "amount": "float64", "currency": "category",
        "payment_method": "category", "device_type": "category", "channel": "category", "entry_mode": "category",
        "card_present": "bool", "billing_shipping_match": "bool", "three_ds_authenticated": "bool",
        "installments": "int64", "avs_result": "category", "device_risk_score": "float64",
        "proxy_score": "float64", "approved": "bool"},
    "logins": {"login_id": "int64", "event_time": "datetime64[ns]", "customer_id": "int64", "device_id": "int64",
               "ip_id": "int64", "success": "bool"},
    "labels": {"label_id": "int64", "transaction_id": "int64", "customer_id": "int64", "card_id": "int64",
               "merchant_id": "int64", "known_at": "datetime64[ns]", "source": "category", "is_fraud": "int8"},
    "merchant_risk": {"snapshot_at": "datetime64[ns]", "merchant_id": "int64", "merchant_risk_score": "float64",
                      "merchant_chargeback_rate_90d": "float64"},
    "bin_risk": {"snapshot_at": "datetime64[ns]", "bin_id": "int64", "card_bin_risk": "float64"},
    "email_domain_risk": {"snapshot_at": "datetime64[ns]", "email_domain_id": "int64", "email_domain_risk": "float64"},
}


def test_tables_have_the_contract_columns_and_types(events_200k, schema):
    assert set(events_200k.tables) == set(CONTRACT)
    for name, columns in CONTRACT.items():
        frame = events_200k.tables[name]
        assert {c: str(frame[c].dtype) for c in frame.columns} == columns, name
    auth = events_200k.tables["authorisations"]
    for col in ("currency", "payment_method", "device_type", "channel", "entry_mode", "avs_result"):
        assert list(auth[col].cat.categories) == list(schema[col].categories), col
    assert list(events_200k.tables["merchants"]["merchant_category"].cat.categories) == \
        list(schema["merchant_category"].categories)
    assert list(events_200k.oracle.columns) == ["transaction_id", "fraud_probability"]


def test_rows_count_the_dataset_authorisations(events_200k):
    per_month = events_200k.manifest["authorisations"]
    assert sum(per_month[m] for m in events_200k.manifest["months"]) == 200_000
    assert len(events_200k.manifest["months"]) == 18 and events_200k.manifest["lead_in_months"] == ["2025-04"]
    assert len(events_200k.tables["authorisations"]) == sum(per_month.values()) == len(events_200k.oracle)


def test_every_event_refers_to_known_entities(events_200k):
    t = events_200k.tables
    known = {"customer_id": t["customers"].customer_id, "card_id": t["cards"].card_id,
             "merchant_id": t["merchants"].merchant_id, "device_id": t["devices"].device_id, "ip_id": t["ips"].ip_id}
    for stream in ("authorisations", "logins", "labels"):
        for col, ids in known.items():
            if col in t[stream]:
                assert t[stream][col].isin(ids).all(), (stream, col)
    assert t["cards"].bin_id.isin(t["bins"].bin_id).all()
    assert t["customers"].email_domain_id.isin(t["email_domains"].email_domain_id).all()
    auth = t["authorisations"]
    owner = t["cards"].set_index("card_id").customer_id
    assert (owner.loc[auth.card_id].to_numpy() == auth.customer_id.to_numpy()).all()
    assert auth.transaction_id.is_unique and auth.event_time.is_monotonic_increasing


def test_labels_are_known_after_their_transactions(events_200k):
    auth = events_200k.tables["authorisations"].set_index("transaction_id")
    labels = events_200k.tables["labels"]
    assert labels.transaction_id.is_unique
    tx = auth.loc[labels.transaction_id]
    assert (labels.known_at.to_numpy() > tx.event_time.to_numpy()).all()
    for col in ("customer_id", "card_id", "merchant_id"):
        assert (labels[col].to_numpy() == tx[col].to_numpy()).all(), col
    declined = ~tx.approved.to_numpy()
    assert (labels.source.to_numpy()[declined] == "review").all()  # no chargeback without a charge
    chargeback = labels.source == "chargeback"
    delay = (labels.known_at - tx.event_time.to_numpy())[chargeback.to_numpy()].dt.days
    assert 14 <= delay.median() <= 28
    assert set(labels.is_fraud.unique()) == {0, 1}


def test_fraud_rate_is_point_seven_percent(events_200k, months_200k):
    _, months = months_200k
    body = [m for m in months if not m.lead_in]
    for m in body:
        assert abs(m.oracle.mean() - 0.007) < 1e-6, m.label
    labels = events_200k.tables["labels"]
    oracle = events_200k.oracle.set_index("transaction_id").fraud_probability
    dataset_ids = np.concatenate([m.auth["transaction_id"] for m in body])
    fraud = labels.loc[labels.is_fraud == 1, "transaction_id"]
    assert abs(fraud.isin(dataset_ids).sum() / len(dataset_ids) - 0.007) <= 0.0006
    assert oracle.max() <= 1 - EventSpec().missed_chargeback_rate + 1e-9  # label noise caps the oracle
    assert oracle.min() >= EventSpec().false_review_rate - 1e-12


def test_generation_is_deterministic_and_chunk_independent():
    full = list(iter_months(20_000, 11))
    alone = next(iter_months(20_000, 11, months=[6]))
    again = full[6]
    for key in again.auth:
        np.testing.assert_array_equal(alone.auth[key], again.auth[key], err_msg=key)
    np.testing.assert_array_equal(alone.oracle, again.oracle)
    np.testing.assert_array_equal(alone.labels["row"], again.labels["row"])
    a = generate_events(20_000, 11)
    b = generate_events(20_000, 11)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    other = generate_events(20_000, 12).tables["authorisations"]
    assert not np.array_equal(other.amount.to_numpy()[:1000], a.tables["authorisations"].amount.to_numpy()[:1000])


def test_write_events_follows_the_layout_and_matches_memory(tmp_path):
    info = write_events(tmp_path / "d", 20_000, 5)
    root = tmp_path / "d"
    for name in ("customers", "cards", "merchants", "bins", "devices", "ips", "email_domains"):
        assert (root / f"{name}.parquet").is_file()
    for name in ("authorisations", "logins", "merchant_risk", "bin_risk", "email_domain_risk", "oracle"):
        parts = sorted(p.parent.name for p in (root / name).glob("month=*/part-0.parquet"))
        assert parts == [f"month={m}" for m in info["lead_in_months"] + info["months"]], name
    memory = generate_events(20_000, 5)
    auth = pd.read_parquet(root / "authorisations").drop(columns="month")
    pd.testing.assert_frame_equal(auth, memory.tables["authorisations"], check_categorical=False)
    labels = pd.read_parquet(root / "labels")
    months = labels.known_at.dt.strftime("%Y-%m")
    assert (months == labels.month.astype(str)).all()  # partitioned by when the outcome became known
    assert len(labels) == len(memory.tables["labels"])


def test_spec_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="fraud_rate"):
        EventSpec(fraud_rate=1.5)
    with pytest.raises(ValueError, match="lead_in_months"):
        EventSpec(lead_in_months=-1)
