"""Request validation derived from the schema: valid records pass, each invalid one names its field."""
from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import invalid_record_strategy, record_strategy

from fraudcore.schema import paylink_schema
from fraudcore.serving.parsing import RequestError, RequestParser

SCHEMA = paylink_schema()
PARSER = RequestParser(SCHEMA, max_batch=8)


def _body(obj) -> bytes:
    return json.dumps(obj).encode()  # the stdlib writes NaN/Infinity literals, as careless clients do


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_strategy(SCHEMA))
def test_valid_records_parse(record):
    records, batch = PARSER.parse(_body(record))
    assert records == [record] and batch is False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_record_strategy(SCHEMA))
def test_invalid_records_name_their_field(case):
    record, name = case
    with pytest.raises(RequestError) as info:
        PARSER.parse(_body(record))
    err = info.value
    assert err.status == 400
    assert err.field == name
    assert name in err.message and err.rule
    orjson.dumps(err.to_dict())  # always serialisable, whatever was received


@settings(max_examples=50, deadline=None)
@given(st.lists(record_strategy(SCHEMA), min_size=1, max_size=8), st.booleans())
def test_batches_as_list_or_instances(records, wrapped):
    body = {"instances": records} if wrapped else records
    got, batch = PARSER.parse(_body(body))
    assert got == records and batch is True


def _valid():
    return {f.name: (f.categories[0] if f.dtype == "category" else False if f.dtype == "bool"
                     else int(f.min or 0) if f.dtype == "int" else float(f.min or 0.0))
            for f in SCHEMA.features}


def test_nullable_fields_may_be_absent_or_null_and_unknown_categories_pass():
    rec = _valid()
    nullable = [f.name for f in SCHEMA.features if f.nullable]
    assert nullable
    rec[nullable[0]] = None
    for name in nullable[1:]:
        del rec[name]
    cat = next(f.name for f in SCHEMA.features if f.dtype == "category")
    rec[cat] = "a-brand-new-value"
    records, batch = PARSER.parse(_body(rec))
    assert records == [rec] and not batch  # passed on as sent: the pipeline scores absent and null as missing


@pytest.mark.parametrize("body, status, rule", [
    (b"{not json", 400, "malformed_json"),
    (b"", 400, "malformed_json"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "malformed_json"),  # past orjson's depth limit and the stack
    (b"42", 400, "type"),
    (b"[]", 400, "empty_batch"),
    (b'{"instances": {}}', 400, "type"),
    (b"[1]", 400, "type"),
])
def test_body_shapes(body, status, rule):
    with pytest.raises(RequestError) as info:
        PARSER.parse(body)
    assert (info.value.status, info.value.rule) == (status, rule)


def test_batch_over_the_limit_is_413():
    with pytest.raises(RequestError) as info:
        PARSER.parse(_body([_valid()] * 9))
    assert (info.value.status, info.value.rule, info.value.received) == (413, "batch_size", 9)


@pytest.mark.parametrize("name, value, rule", [
    ("amount", -0.01, "min"),
    ("amount", float("nan"), "finite"),
    ("amount", float("inf"), "finite"),
    ("amount", "12.5", "type"),
    ("amount", True, "type"),
    ("hour_of_day", 24, "max"),
    ("installments", 2.5, "integer"),
    ("card_present", "yes", "type"),
    ("currency", 3, "type"),
])
def test_named_rules(name, value, rule):
    rec = _valid()
    rec[name] = value
    with pytest.raises(RequestError) as info:
        PARSER.parse(_body(rec))
    assert (info.value.field, info.value.rule) == (name, rule)


def test_batch_errors_name_the_index():
    recs = [_valid(), _valid()]
    del recs[1]["amount"]
    with pytest.raises(RequestError) as info:
        PARSER.parse(_body(recs))
    err = info.value
    assert (err.field, err.rule, err.index) == ("amount", "required", 1)
    assert "instances[1].amount" in err.message


def test_transaction_id_is_checked_against_its_declared_type():
    rec = _valid()
    rec[SCHEMA.id] = "abc"
    with pytest.raises(RequestError) as info:
        PARSER.parse(_body(rec))
    assert info.value.field == SCHEMA.id
