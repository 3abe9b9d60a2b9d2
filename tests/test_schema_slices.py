"""Holdout slices come from the schema when the config names none: no PayLink field is assumed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fraudcore import evaluation as E
from fraudcore.config import EvaluationConfig, TrainConfig, load_train_config, parse_train_toml
from fraudcore.schema import Field, Schema, load_schema

ROOT = Path(__file__).resolve().parents[1]
ORDERS_SCHEMA = ROOT / "config" / "examples" / "orders_schema.toml"
# A user's config with only [data] and [split], for a schema that shares no field name with PayLink's.
ORDERS_MINIMAL = f"""
[data]
schema = "{ORDERS_SCHEMA}"

[split]
mode = "dates"
train = ["2025-01-01", "2025-09-01"]
validation = ["2025-09-15", "2025-11-01"]
holdout = ["2025-11-15", "2026-01-01"]
"""


def test_a_config_with_only_data_and_split_is_accepted_for_another_schema() -> None:
    parsed = parse_train_toml(ORDERS_MINIMAL)
    assert parsed["evaluation"]["categorical_slices"] == []
    paylink = set(load_schema().by_name)
    assert not paylink & set(load_schema(ORDERS_SCHEMA).by_name) - {"chargeback"}


def test_default_slices_are_the_schemas_category_and_nullable_features() -> None:
    orders = load_schema(ORDERS_SCHEMA)
    ev = TrainConfig.from_toml(ORDERS_MINIMAL, "test").evaluation.for_schema(orders)
    assert ev.categorical_slices == ("payment_type", "ship_country")
    assert ev.missing_slices == ("avg_order_total", "ip_risk")
    assert ev.below_slices == ()
    ev.check_fields(orders)
    frame = pd.DataFrame({"payment_type": ["card", "paypal", None], "ship_country": ["DE", "FR", "DE"],
                          "avg_order_total": [1.0, np.nan, 2.0], "ip_risk": [np.nan, np.nan, 0.1]})
    masks = E.slice_masks(ev, orders, frame)
    assert masks["payment_type=card"].tolist() == [True, False, False]
    assert masks["ship_country=DE"].sum() == 2
    assert masks["ip_risk missing"].sum() == 2 and masks["avg_order_total missing"].sum() == 1


def test_a_schema_with_no_category_or_nullable_feature_gets_no_slices() -> None:
    plain = Schema(name="plain", label="y", time="t", id="i",
                   fields=(Field("i", "int", role="id"), Field("t", "timestamp", role="time"),
                           Field("y", "int", role="label"), Field("x", "float")))
    ev = EvaluationConfig().for_schema(plain)
    assert (ev.categorical_slices, ev.missing_slices, ev.below_slices) == ((), (), ())
    assert E.slice_masks(ev, plain, pd.DataFrame({"x": [1.0]})) == {}


def test_paylink_keeps_its_chosen_slices_in_its_config(schema) -> None:
    ev = load_train_config().evaluation.for_schema(schema)
    assert ev.categorical_slices == ("payment_method", "merchant_category")
    assert ev.missing_slices == ("merchant_risk_score",)
    assert [(s.name, s.field, s.below) for s in ev.below_slices] == [("new_customers", "account_age_days", 30)]


def test_fraudcore_names_no_paylink_field_in_its_evaluation_defaults() -> None:
    text = (ROOT / "fraudcore" / "config.py").read_text()
    for name in ("payment_method", "merchant_category", "merchant_risk_score", "account_age_days"):
        assert name not in text, name
