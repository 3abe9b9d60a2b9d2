import json

import pytest

from fraudcore.schema import Field, SchemaError, load_schema, schema_from_dict


def test_paylink_schema_has_forty_features_in_the_five_groups(schema):
    assert len(schema.features) == 40
    assert {g: len(v) for g, v in schema.groups().items()} == {
        "transaction": 12, "customer": 10, "merchant": 6, "time": 5, "risk": 7}


def test_required_seed_features_are_declared_in_their_groups(schema):
    groups = schema.groups()
    assert {"amount", "currency", "payment_method", "device_type"} <= set(groups["transaction"])
    assert {"transactions_24h", "avg_amount_30d", "chargebacks_90d"} <= set(groups["customer"])
    assert {"merchant_category", "merchant_risk_score", "country"} <= set(groups["merchant"])
    assert {"hour_of_day", "day_of_week", "is_holiday", "account_age_days"} <= set(groups["time"])
    assert {"ip_velocity", "card_bin_risk", "email_domain_risk"} <= set(groups["risk"])


def test_non_feature_columns_have_their_roles(schema):
    assert schema.label == "is_fraud" and schema["is_fraud"].role == "label"
    assert schema.time == "event_time" and schema["event_time"].role == "time"
    assert schema["transaction_id"].role == "id"
    assert schema["customer_id"].role == "id" and schema["merchant_id"].role == "id"
    assert schema.oracle == "fraud_probability"
    assert "fraud_probability" not in schema.feature_names


def test_json_round_trip_preserves_the_schema(schema, tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(schema.to_json())
    again = load_schema(path)
    assert again.to_dict() == schema.to_dict()
    assert json.loads(again.to_json())["fields"][0]["name"] == "transaction_id"


@pytest.mark.parametrize("bad, message", [
    ({"name": "x", "dtype": "decimal"}, "dtype must be one of"),
    ({"name": "x", "dtype": "category"}, "needs a non-empty 'categories'"),
    ({"name": "x", "dtype": "float", "min": 2, "max": 1}, "min must be <= max"),
    ({"name": "x", "dtype": "string", "role": "feature"}, "a feature must be"),
    ({"name": "x", "dtype": "float", "colour": "red"}, "unknown keys"),
])
def test_invalid_declarations_name_the_field_and_rule(bad, message):
    fields = [{"name": "id", "dtype": "int", "role": "id"}, {"name": "t", "dtype": "timestamp", "role": "time"},
              {"name": "y", "dtype": "int", "role": "label"}, {"name": "f", "dtype": "float"}, bad]
    with pytest.raises((SchemaError, TypeError), match=message):
        schema_from_dict({"label": "y", "time": "t", "id": "id", "fields": fields})


def test_label_column_must_be_declared():
    with pytest.raises(SchemaError, match="label column 'nope'"):
        schema_from_dict({"label": "nope", "time": "t", "id": "id", "fields": [
            {"name": "id", "dtype": "int", "role": "id"}, {"name": "t", "dtype": "timestamp", "role": "time"},
            {"name": "f", "dtype": "float"}]})


def test_field_describes_its_valid_values():
    assert Field("a", "float", min=0.0).describe_range() == "[0, inf]"
    assert Field("c", "category", categories=("x", "y")).describe_range() == "one of x, y"
