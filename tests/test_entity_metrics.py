"""Entity-level evaluation (issue 16): precision at the top k entities a day, with the entities already
known compromised removed from later days, as investigators work."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudcore.config import TrainConfig
from fraudcore.config_loader import ConfigError
from fraudcore.entity_metrics import entity_top_k
from fraudcore.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]

# day 1: A fraud 0.9, B legit 0.8, C legit 0.1; day 2: A fraud 0.95 (known since day 1), B fraud 0.5, C legit 0.7
TIMES = ["2025-01-01T10:00Z", "2025-01-01T11:00Z", "2025-01-01T12:00Z", "2025-01-02T10:00Z", "2025-01-02T11:00Z",
         "2025-01-02T12:00Z"]
ENTITY = ["A", "B", "C", "A", "B", "C"]
Y = [1, 0, 0, 1, 1, 0]
S = [0.9, 0.8, 0.1, 0.95, 0.5, 0.7]


def test_precision_at_k_by_hand() -> None:
    out = entity_top_k(Y, S, TIMES, ENTITY, [1, 2])
    # known removed: day 1 top1 A (1/1), top2 A,B (1/2); day 2 without A: top1 C (0), top2 C,B (1/2)
    assert out["precision_at_k_known_removed"] == [0.5, 0.5]
    # all: day 1 as above; day 2 top1 A (1), top2 A,C (1/2)
    assert out["precision_at_k_all"] == [1.0, 0.5]
    assert out["precision_at_k"] == out["precision_at_k_known_removed"]
    assert entity_top_k(Y, S, TIMES, ENTITY, [1, 2], remove_known=False)["precision_at_k"] == [1.0, 0.5]
    assert (out["days"], out["entities"], out["fraud_entity_days"], out["fraud_entity_days_new"]) == (2, 3, 3, 2)


def test_an_entity_counts_once_a_day_at_its_riskiest_transaction() -> None:
    times = ["2025-01-01T01:00Z", "2025-01-01T02:00Z", "2025-01-01T03:00Z"]
    out = entity_top_k([0, 1, 0], [0.2, 0.1, 0.9], times, ["A", "A", "B"], [1])
    assert out["precision_at_k"] == [0.0]  # B (0.9) outranks A (max 0.2)
    assert entity_top_k([0, 1, 0], [0.95, 0.1, 0.9], times, ["A", "A", "B"], [1])["precision_at_k"] == [1.0]


def test_a_better_ranking_scores_higher() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    times = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 10 * 86400, n), unit="s")
    ent = rng.integers(0, 400, n)
    y = (rng.random(n) < 0.02).astype(int)
    good, noise = np.where(y == 1, 0.9, 0.1) + rng.normal(0, 0.2, n), rng.random(n)
    assert entity_top_k(y, good, times, ent, [10])["precision_at_k"][0] > \
        entity_top_k(y, noise, times, ent, [10])["precision_at_k"][0] + 0.3


def test_the_entity_key_names_an_id_field_of_the_schema() -> None:
    orders = load_schema(ROOT / "config" / "examples" / "orders_schema.toml")
    ev = TrainConfig.from_toml('[evaluation]\nentity = "shopper_id"\nentity_top_k = [5, 10]\n', "t").evaluation
    ev.check_fields(orders)
    assert ev.entity_top_k == (5, 10)
    for bad in ("order_id", "items", "nope"):
        with pytest.raises(ConfigError, match=r"'evaluation.entity' must name a field .* role 'id' other than the "
                                              r"row id 'order_id' .*candidates: \['shopper_id'\]"):
            TrainConfig.from_toml(f'[evaluation]\nentity = "{bad}"\n', "t").evaluation.check_fields(orders)
    with pytest.raises(ConfigError, match="entity_top_k' must be a non-empty list of ints >= 1"):
        TrainConfig.from_toml("[evaluation]\nentity_top_k = [0]\n", "t")
