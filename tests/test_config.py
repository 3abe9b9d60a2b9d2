"""TrainConfig: defaults in one place, unknown keys and out-of-range values fail by name."""
from __future__ import annotations

from pathlib import Path

import pytest

from fraudcore.config import ConfigError, TrainConfig, load_train_config

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_round_trip_through_a_dict() -> None:
    cfg = TrainConfig()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.gate.min_pr_auc == 0.42 and cfg.thresholds.precision_floor == 0.20


def test_shipped_config_files_load() -> None:
    cfg = load_train_config(ROOT / "config" / "train.toml")
    assert any(d["name"] == "log_amount" for d in cfg.pipeline.derived)
    for path in (ROOT / "config" / "examples").glob("*train*.toml"):
        load_train_config(path)


def test_partial_config_keeps_the_other_defaults() -> None:
    cfg = TrainConfig.from_dict({"tuning": {"branches": 3}, "data": {"column_map": {"amt": "amount"}}})
    assert cfg.tuning.branches == 3
    assert cfg.tuning.trials_per_branch == TrainConfig().tuning.trials_per_branch
    assert cfg.data.column_map == (("amt", "amount"),)


@pytest.mark.parametrize("data, message", [
    ({"tunning": {}}, "unknown config key 'tunning'; allowed in the top level"),
    ({"tuning": {"brnaches": 2}}, "unknown config key 'tuning.brnaches'; allowed in [tuning]"),
    ({"tuning": {"branches": 0}}, "config key 'tuning.branches' must be an int >= 1; got 0"),
    ({"tuning": {"branches": "2"}}, "config key 'tuning.branches' must be an int; got '2'"),
    ({"resources": {"tune": {"cpu": 0}}}, "config key 'resources.*.cpu' must be an int in [1, 96]; got 0"),
    ({"resources": {"tune": {"gpu": 1}}}, "unknown config key 'resources.tune.gpu'"),
    ({"gate": {"min_pr_auc": 1.5}}, "config key 'gate.min_pr_auc' must be in [0, 1]; got 1.5"),
    ({"thresholds": {"precision_floor": 0.7}}, "'thresholds.decline_precision' must be in [precision_floor, 1]"),
    ({"sampling": {"negative_rate": 0.0}}, "'sampling.negative_rate' must be in (0, 1]; got 0.0"),
    ({"tuning": {"space": {"num_trees": {"low": 1, "high": 2}}}}, "'tuning.space.num_trees' must name a tunable"),
    ({"tuning": {"space": {"num_leaves": {"low": 8.5, "high": 64}}}}, "must have integer low and high"),
    ({"tuning": {"space": {"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}}}, "low > 0 when log = true"),
    ({"split": {"mode": "weeks"}}, "'split.mode' must be one of ('months', 'dates'); got 'weeks'"),
    ({"split": {"mode": "dates", "train": ["2025-01-01", "2025-06-01"], "validation": ["2025-05-01", "2025-07-01"],
                "holdout": ["2025-08-01", "2025-09-01"]}}, "'split.validation' must start on or after split.train ends"),
    ({"split": {"mode": "dates", "train": ["2025-01-01"], "validation": [], "holdout": []}},
     "'split.train' must be [start, end]"),
    ({"final": {"refit": "everything"}}, "'final.refit' must be one of"),
])
def test_bad_values_name_key_rule_and_value(data, message) -> None:
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data)
    assert message in str(err.value)


def test_replace_rechecks_and_rejects_unknown_keys() -> None:
    cfg = TrainConfig().replace(**{"data.path": "x.parquet", "seed": 3})
    assert cfg.data.path == "x.parquet" and cfg.seed == 3
    with pytest.raises(ConfigError, match="'data.pth' is not a known key"):
        TrainConfig().replace(**{"data.pth": "x"})
    with pytest.raises(ConfigError, match="tuning.trials_per_branch"):
        TrainConfig().replace(**{"tuning.trials_per_branch": 0})


def test_slices_are_checked_against_the_schema(schema) -> None:
    TrainConfig().evaluation.check_fields(schema)
    bad = TrainConfig.from_dict({"evaluation": {"categorical_slices": ["amount"]}})
    with pytest.raises(ConfigError, match="must name a category feature; got 'amount \\(float\\)'"):
        bad.evaluation.check_fields(schema)
    unknown = TrainConfig.from_dict({"evaluation": {"missing_slices": ["nope"]}})
    with pytest.raises(ConfigError, match="must name a feature of schema 'paylink'; got 'nope'"):
        unknown.evaluation.check_fields(schema)


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_train_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[tuning\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_train_config(bad)
