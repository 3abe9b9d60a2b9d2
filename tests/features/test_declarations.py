"""Loading the declarations refuses what can't be computed, naming the key (issue 14, bad input)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from fraudcore.features import FeatureConfigError, load_feature_set
from fraudcore.features.definitions import FUNCTIONS
from fraudcore.features.featureset import feature_set_from_dict
from fraudcore.features.tables import load_tables, tables_from_dict
from fraudcore.schema import paylink_schema

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def raw() -> dict:
    return tomllib.loads((CONFIG / "features.toml").read_text())


@pytest.fixture(scope="module")
def tables():
    return load_tables(CONFIG / "events.toml")


def _load(raw: dict, tables, **changes) -> None:
    data = {**raw, "features": {k: dict(v) for k, v in raw["features"].items()}}
    for name, patch in changes.items():
        if patch is None:
            del data["features"][name]
        else:
            data["features"][name] = {**data["features"].get(name, {}), **patch}
    feature_set_from_dict(data, paylink_schema(), tables)


def test_paylink_declarations_define_every_schema_feature_once():
    fs = load_feature_set(CONFIG / "features.toml")
    assert [f.name for f in fs.features] == list(fs.schema.feature_names)
    assert len(fs.features) == 40
    assert {f.kind for f in fs.features} == {"request", "vendor", "derived", "reference", "aggregate"}


@pytest.mark.parametrize("changes, message", [
    ({"transactions_24h": {"window": "1h", "lag": "2h"}}, "features.transactions_24h.window: must be longer than its lag"),
    ({"transactions_24h": {"window": "1h", "lag": "1h"}}, "features.transactions_24h.window: must be longer than its lag"),
    ({"transactions_24h": {"window": "24 hours"}}, "features.transactions_24h.window: must be a duration"),
    ({"transactions_24h": {"op": "median"}}, "features.transactions_24h.op: must be one of"),
    ({"transactions_24h": {"stream": "clicks"}}, "features.transactions_24h.stream: unknown stream 'clicks'"),
    ({"amount_24h": {"column": "amount_usd"}}, "features.amount_24h.column: table 'authorisations' has no column 'amount_usd'"),
    ({"declines_7d": {"filter": [{"column": "outcome", "equals": False}]}},
     "features.declines_7d.filter[0].column: table 'authorisations' has no column 'outcome'"),
    ({"declines_7d": {"filter": [{"column": "approved", "equals": "no"}]}}, "features.declines_7d.filter[0].equals"),
    ({"transactions_24h": {"key": ["terminal_id"]}}, "features.transactions_24h.key: table 'authorisations' has no column"),
    ({"amount": {"column": "amount_usd"}}, "features.amount.column: table 'authorisations' has no column 'amount_usd'"),
    ({"card_bin_risk": {"table": "bin_feed"}}, "features.card_bin_risk.table: unknown snapshot table 'bin_feed'"),
    ({"card_bin_risk": {"column": "risk"}}, "features.card_bin_risk.column: table 'bin_risk' has no column 'risk'"),
    ({"card_age_days": {"inputs": ["cards.issued_at"]}}, "features.card_age_days.inputs[0]: table 'cards' has no column"),
    ({"hour_of_day": {"function": "minute_of_hour"}}, "features.hour_of_day.function: must be one of"),
    ({"ip_velocity": {"windo": "1h"}}, "features.ip_velocity: unknown keys ['windo']"),
    ({"transactions_24h": None}, "features: schema features without a definition: ['transactions_24h']"),
    ({"transactions_30d": {"kind": "aggregate", "stream": "authorisations", "key": "customer_id", "op": "count",
                           "window": "30d"}}, "features.transactions_30d: no schema feature has this name"),
])
def test_a_bad_definition_is_refused_with_its_key(raw, tables, changes, message):
    with pytest.raises(FeatureConfigError, match=re.escape(message)):
        _load(raw, tables, **changes)


def test_an_aggregate_that_can_be_missing_needs_a_nullable_field_or_a_default(raw, tables):
    data = {**raw, "features": {k: dict(v) for k, v in raw["features"].items()}}
    del data["features"]["merchant_avg_ticket"]["default"]
    with pytest.raises(FeatureConfigError, match=re.escape("features.merchant_avg_ticket: can be missing")):
        feature_set_from_dict(data, paylink_schema(), tables)


def test_a_count_needs_no_column(raw, tables):
    with pytest.raises(FeatureConfigError, match=re.escape("features.transactions_24h.column: op 'count' takes no")):
        _load(raw, tables, transactions_24h={"column": "amount"})


def test_table_declarations_are_checked():
    good = tomllib.loads((CONFIG / "events.toml").read_text())
    bad = {"tables": {**good["tables"], "logins": {**good["tables"]["logins"], "time": "logged_at"}}}
    with pytest.raises(FeatureConfigError, match=re.escape("tables.logins.time: names column 'logged_at'")):
        tables_from_dict(bad)
    bad = {"tables": {**good["tables"], "logins": {**good["tables"]["logins"], "refs": {"customer_id": "logins"}}}}
    with pytest.raises(FeatureConfigError, match=re.escape("tables.logins.refs.customer_id: must name an entity")):
        tables_from_dict(bad)
    bad = {"tables": {**good["tables"], "bins": {**good["tables"]["bins"], "kind": "lookup"}}}
    with pytest.raises(FeatureConfigError, match=re.escape("tables.bins.kind: must be one of")):
        tables_from_dict(bad)


def test_the_engine_names_no_paylink_field():
    """PayLink's choices live in the TOML; the engine code must not name its columns."""
    fields = (set(paylink_schema().feature_names) - set(FUNCTIONS)) | {"customer_id", "merchant_id", "transaction_id", "authorisations",
                                                   "approved", "known_at", "labels", "logins"}
    package = Path(__file__).resolve().parents[2] / "fraudcore" / "features"
    for path in package.glob("*.py"):
        if path.name == "toy.py":        # the random-log maker for tests names table sizes
            continue
        words = set(re.findall(r"[\"']([a-z_0-9]+)[\"']", path.read_text()))
        assert not words & fields, f"{path.name} names {sorted(words & fields)}"
