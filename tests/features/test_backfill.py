"""The backfill sequence: content-keyed output, month reuse, labels and oracle joined from the events."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from fraudcore.features import EventLog, compute_features, load_feature_set
from fraudcore.features.backfill import (
    MANIFEST, backfill_month, content_key, finish_backfill, labels_known_at, plan_backfill,
)
from fraudcore.features.errors import EventDataError
from fraudcore.synth.events import write_events

FEATURES = "config/features.toml"


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    write_events(root, 12_000, 5)
    return root


def test_backfill_equals_one_pass_with_labels_and_oracle(events, tmp_path):
    plan = plan_backfill(events, FEATURES, tmp_path)
    assert plan.months == tuple(json.loads((events / "manifest.json").read_text())["months"])
    results = [backfill_month(plan, m) for m in plan.months]
    assert not any(r.reused for r in results)
    out = finish_backfill(plan, results)
    table = pd.read_parquet(out).sort_values("transaction_id").reset_index(drop=True)
    fs = load_feature_set(FEATURES)
    whole = compute_features(EventLog.from_dir(events), fs)
    whole = whole[whole["event_time"] >= table["event_time"].min()].sort_values("transaction_id")
    assert len(table) == len(whole) == sum(r.rows for r in results)
    for name in fs.schema.feature_names:
        pd.testing.assert_series_equal(table[name], whole[name].reset_index(drop=True), check_names=False,
                                       obj=name)
    labels = pd.read_parquet(events / "labels")
    fraud_ids = set(labels.loc[labels["is_fraud"] == 1, "transaction_id"])
    assert table["is_fraud"].tolist() == [int(i in fraud_ids) for i in table["transaction_id"]]
    assert table["fraud_probability"].notna().all()
    assert 0.003 < table["is_fraud"].mean() < 0.015


def test_months_are_reused_and_a_changed_declaration_gets_a_new_key(events, tmp_path):
    plan = plan_backfill(events, FEATURES, tmp_path, months=["2025-06"])
    first = backfill_month(plan, "2025-06")
    again = backfill_month(plan, "2025-06")
    assert (again.reused, again.rows, again.positives) == (True, first.rows, first.positives)
    with pytest.raises(ValueError, match="2025-07"):
        backfill_month(plan, "2025-07")
    with pytest.raises(EventDataError, match="missing months"):
        finish_backfill(plan_backfill(events, FEATURES, tmp_path, months=["2025-06", "2025-07"]), [first])
    changed = tmp_path / "features.toml"
    changed.write_text(open(FEATURES).read().replace('window = "24h"', 'window = "25h"', 1))
    shutil.copy("config/events.toml", tmp_path / "events.toml")
    shutil.copy("config/schema.toml", tmp_path / "schema.toml")
    assert content_key(events, load_feature_set(changed)) != plan.key
    assert not (tmp_path / plan.key[:16] / MANIFEST).exists()


def test_known_at_is_the_first_fraud_outcome(events):
    labels = pd.read_parquet(events / "labels")
    fraud = labels[labels["is_fraud"] == 1]
    ids = np.array([fraud["transaction_id"].iloc[0], -1])
    known = labels_known_at(load_feature_set(FEATURES), events, ids)
    assert known.iloc[0] == fraud.loc[fraud["transaction_id"] == ids[0], "known_at"].min()
    assert pd.isna(known.iloc[1])
