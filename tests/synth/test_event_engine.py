"""The feature engine on the generated events: it reproduces the features the labels were drawn from.

If the engine's features equal the generator's, the stored oracle is P(label | engine features, date).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudcore.synth.events import EventSpec, generate_events
from fraudcore.synth.events.codes import Codes
from fraudcore.synth.events.generate import iter_months
from fraudcore.synth.events.join import attach_labels
from fraudcore.synth.events.oracle import ORACLE_FEATURES, from_features

features = pytest.importorskip("fraudcore.features")
FEATURES_TOML = Path(__file__).resolve().parents[2] / "config" / "features.toml"
COUNTS = ("transactions_24h", "ip_velocity", "declines_7d", "failed_logins_24h", "hour_of_day", "account_age_days")


@pytest.fixture(scope="module")
def computed():
    """The engine's own values (float64, cast=False): exact comparison needs no float32 rounding."""
    data = generate_events(40_000, 13)
    log, fs = features.EventLog(dict(data.tables)), features.load_feature_set(FEATURES_TOML)
    frame = features.compute_features_with_report(log, fs, cast=False).frame
    if not pd.api.types.is_datetime64_any_dtype(frame["event_time"]):
        frame["event_time"] = pd.to_datetime(frame["event_time"].to_numpy(dtype=np.int64), unit="ns")
    return data, attach_labels(frame, data.tables["labels"], data.oracle)


def test_engine_features_equal_the_generators(computed, schema):
    data, frame = computed
    mine = pd.concat([pd.DataFrame({**{k: np.asarray(m.features[k]) for k in ORACLE_FEATURES},
                                    "transaction_id": m.auth["transaction_id"]})
                      for m in iter_months(40_000, 13)], ignore_index=True).set_index("transaction_id")
    eng = frame.set_index("transaction_id").loc[mine.index]
    assert len(frame) == len(data.tables["authorisations"])
    for name in COUNTS:
        np.testing.assert_array_equal(eng[name].to_numpy(dtype=np.int64), mine[name].to_numpy(dtype=np.int64), name)
    cnp = ~mine["card_present"].astype(bool).to_numpy()
    np.testing.assert_array_equal(eng["is_new_device"].to_numpy(dtype=bool)[cnp], mine["is_new_device"].to_numpy()[cnp])
    for name in ("avg_amount_30d", "merchant_risk_score", "merchant_chargeback_rate_90d", "card_bin_risk",
                 "email_domain_risk", "amount", "device_risk_score", "proxy_score"):
        np.testing.assert_allclose(eng[name].to_numpy(dtype=np.float64), mine[name].to_numpy(dtype=np.float64),
                                   rtol=1e-9, err_msg=name)
    for name in ("is_international", "ip_country_mismatch", "card_present", "billing_shipping_match"):
        np.testing.assert_array_equal(eng[name].to_numpy(dtype=bool), mine[name].to_numpy(dtype=bool), name)
    for name in ("entry_mode", "avs_result", "payment_method", "device_type", "channel", "merchant_category"):
        codes = Codes(schema).categories(name)
        np.testing.assert_array_equal(eng[name].astype(str).to_numpy(),
                                      np.asarray(codes)[mine[name].to_numpy(dtype=np.int64)], name)


def test_oracle_from_the_engines_features_equals_the_stored_one(computed, schema):
    data, frame = computed
    again = from_features(EventSpec(**data.manifest["spec"]), Codes(schema), frame, data.manifest["oracle_terms"])
    np.testing.assert_allclose(again, frame["fraud_probability"].to_numpy(), rtol=1e-9, atol=1e-15)


def test_missing_history_is_what_the_engine_reports(computed):
    _, frame = computed
    months = frame["event_time"].dt.strftime("%Y-%m")
    body = frame[months >= "2025-05"]
    assert 0.015 <= body["avg_amount_30d"].isna().mean() <= 0.05
    assert 0.05 <= body["merchant_risk_score"].isna().mean() <= 0.11


def test_training_dtypes_keep_the_oracle_within_float32_rounding(computed, schema):
    """What training reads (compute_features: schema dtypes, float32) moves the oracle by rounding only."""
    data, exact = computed
    frame = features.compute_features(features.EventLog(dict(data.tables)), features.load_feature_set(FEATURES_TOML))
    frame = attach_labels(frame, data.tables["labels"], data.oracle)
    again = from_features(EventSpec(**data.manifest["spec"]), Codes(schema), frame, data.manifest["oracle_terms"])
    np.testing.assert_allclose(again, frame["fraud_probability"].to_numpy(), rtol=1e-4)
