"""Property tests: validation agrees with the schema-derived strategies."""
import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import invalid_value_strategy, record_strategy

from fraudcore.schema import paylink_schema
from fraudcore.data import validate_frame

SCHEMA = paylink_schema()


def _with_columns(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    frame.insert(0, "transaction_id", range(1, len(frame) + 1))
    frame.insert(1, "event_time", pd.date_range("2026-01-01", periods=len(frame), freq="min", tz="UTC"))
    frame["customer_id"] = 1
    frame["merchant_id"] = 1
    frame["is_fraud"] = 0
    return frame


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record_strategy(SCHEMA), min_size=1, max_size=5))
def test_valid_records_pass_validation(records):
    loaded = validate_frame(SCHEMA, _with_columns(records).astype(object))
    assert loaded.report.rows_quarantined == 0, loaded.report.to_text()
    assert loaded.report.rows_valid == len(records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_strategy(SCHEMA), st.sampled_from([f.name for f in SCHEMA.features]), st.data())
def test_an_invalid_value_is_quarantined_naming_its_field(record, name, data):
    value = data.draw(invalid_value_strategy(SCHEMA[name]))
    field = SCHEMA[name]
    if field.dtype in ("float", "int") and isinstance(value, float) and math.isnan(value) and field.nullable:
        return  # NaN is how a table spells "missing": valid for a nullable field
    good = dict(record)
    bad = dict(record)
    bad[name] = value
    frame = _with_columns([good, bad]).astype(object)
    loaded = validate_frame(SCHEMA, frame)
    assert loaded.report.rows_in == 2
    assert loaded.report.rows_quarantined == 1, (name, value)
    assert loaded.quarantine["_row"].tolist() == [1]
    assert loaded.quarantine["_reason"].iloc[0].startswith(f"{name}:")
