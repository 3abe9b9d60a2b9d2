"""A separate test file as the holdout (issue 16, problem 1): train and validation from the training data,
the holdout from the file, validated the same way and fingerprinted; without a holdout the error says how
to supply one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from examples_support import make_orders_function
from fraudcore.config import DataConfig, TrainConfig
from fraudcore.config_loader import ConfigError
from fraudcore.data import DataValidationError
from fraudcore.prepare import attach_holdout, count_split, load_part, prepare_dataset, set_aside_lines
from fraudcore.schema import load_schema
from fraudcore.split import SplitError, check_counts, plan_split

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config" / "examples"
ORDERS = load_schema(EXAMPLES / "orders_schema.toml")
DATES = """
[split]
mode = "dates"
train = ["2025-01-01", "2025-09-01"]
validation = ["2025-09-15", "2025-11-15"]
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("orders")
    orders = make_orders_function()(6000, 3)
    test = orders["created_at"] >= "2025-12-01"
    train_csv, test_csv = root / "train.csv", root / "test.csv"
    orders.loc[~test].to_csv(train_csv, index=False)
    bad = orders.loc[test].copy()
    bad.iloc[3, bad.columns.get_loc("items")] = 0  # below the schema's min: quarantined, as in training data
    bad.to_csv(test_csv, index=False)
    return train_csv, test_csv


def test_split_holdout_takes_a_path_and_holdout_data_sets_it() -> None:
    cfg = TrainConfig.from_toml(DATES + 'holdout = "data/test.csv"\n', "test")
    assert cfg.split.holdout_path == "data/test.csv"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # what --holdout-data does in TrainFlow's start step
    over = TrainConfig.from_toml(DATES, "test").replace(**{"split.holdout": "other.parquet"})
    assert over.split.holdout_path == "other.parquet"
    with pytest.raises(ConfigError, match="must be a list or must be a string; got 3"):
        TrainConfig.from_toml(DATES + "holdout = 3\n", "test")


def test_no_holdout_says_how_to_supply_one() -> None:
    cfg = TrainConfig.from_toml(DATES, "test")  # accepted at launch: --holdout-data may still come
    for call in (cfg.split.check_holdout, lambda: plan_split(cfg.split, "2025-01-01", "2025-11-30")):
        with pytest.raises(ConfigError) as err:
            call()
        assert "split.holdout" in str(err.value) and "--holdout-data PATH" in str(err.value)
    months = TrainConfig().split
    with pytest.raises(SplitError, match=r"needs at least 7 months.*split.holdout = .*--holdout-data PATH"):
        plan_split(months, "2025-01-01", "2025-05-30")
    plan = plan_split(months, "2025-01-01", "2025-12-30")
    with pytest.raises(SplitError, match=r"split part 'holdout'.*both classes.*--holdout-data PATH"):
        check_counts(plan, {"train": {"rows": 9, "positives": 1}, "validation": {"rows": 9, "positives": 1},
                            "holdout": {"rows": 5, "positives": 0}})


def test_train_and_validation_from_the_data_the_holdout_from_the_file(files, tmp_path) -> None:
    train_csv, test_csv = files
    cfg = TrainConfig.from_toml(DATES + f'holdout = "{test_csv}"\n', "test")
    data = DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1, column_map=(("OrderTotal", "order_total"),))
    prepared = attach_holdout(prepare_dataset(ORDERS, train_csv, data), prepare_dataset(ORDERS, test_csv, data), ORDERS)
    plan = plan_split(cfg.split, prepared.first_time, prepared.last_time, prepared.holdout_range)
    assert plan.train == ("2025-01-01T00:00:00+00:00", "2025-09-01T00:00:00+00:00")
    assert plan.holdout[0] == pd.Timestamp(prepared.holdout["first_time"]).isoformat()
    counts = count_split(prepared, ORDERS, plan)
    check_counts(plan, counts)
    hold = load_part(prepared, ORDERS, plan, ["holdout"], ["order_id"])
    test_rows = pd.read_csv(test_csv)
    # every valid row of the test file, and nothing else; its bad row quarantined with its reason
    assert sorted(hold["order_id"]) == sorted(test_rows["order_id"].drop(test_rows.index[3]))
    assert counts["holdout"]["rows"] == len(test_rows) - 1 == prepared.holdout["rows"]
    assert not np.isin(load_part(prepared, ORDERS, plan, ["train", "validation"], ["order_id"])["order_id"],
                       test_rows["order_id"]).any()
    assert prepared.fingerprint["holdout"]["path"] == str(test_csv)
    assert prepared.fingerprint["holdout"]["content_sha256"] != prepared.fingerprint["content_sha256"]
    lines = set_aside_lines(prepared.report)
    assert any(line.startswith(f"holdout file {test_csv}: quarantined: 1 rows: column 'items'") for line in lines)


def test_months_mode_plans_validation_on_the_training_data_alone(files, tmp_path) -> None:
    train_csv, test_csv = files
    split = TrainConfig.from_toml(f'[split]\nvalidation_months = 2\nholdout = "{test_csv}"\n', "test").split
    plan = plan_split(split, "2025-01-01T00:03:00+00:00", "2025-11-30T23:00:00+00:00",
                      ("2025-12-01T00:10:00+00:00", "2025-12-31T23:50:00+00:00"))
    assert plan.validation == ("2025-10-01T00:00:00+00:00", "2025-12-01T00:00:00+00:00")
    assert plan.holdout == ("2025-12-01T00:10:00+00:00", "2025-12-31T23:50:00.000001+00:00")


def test_a_test_file_that_overlaps_the_training_data_is_refused(files) -> None:
    split = TrainConfig.from_toml(DATES + 'holdout = "test.csv"\n', "test").split
    with pytest.raises(SplitError, match=r"test file 'test.csv' starts at 2025-11-20.*not after the training data "
                                         r"ends \(2025-11-30"):
        plan_split(split, "2025-01-01", "2025-11-30", ("2025-11-20", "2025-12-31"))


def test_a_test_file_repeating_training_ids_is_refused(files, tmp_path) -> None:
    train_csv, test_csv = files
    leaky = pd.read_csv(test_csv)
    leaky.loc[5, "order_id"] = int(pd.read_csv(train_csv)["order_id"].iloc[10])
    leaky_csv = tmp_path / "leaky.csv"
    leaky.to_csv(leaky_csv, index=False)
    data = DataConfig(prepared_root=str(tmp_path / "prepared"), workers=1, column_map=(("OrderTotal", "order_total"),))
    with pytest.raises(DataValidationError, match=r"leaky.csv: column 'order_id' must not repeat the training data's "
                                                  r"ids; got 1 rows \(first: 11, also in .*train.csv\)"):
        attach_holdout(prepare_dataset(ORDERS, train_csv, data), prepare_dataset(ORDERS, leaky_csv, data), ORDERS)
