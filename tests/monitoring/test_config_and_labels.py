"""Config: defaults in one place, unknown keys and bad ranges refused. Labels: arrival and maturity."""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudcore.config_loader import CONFIG_DIR, ConfigError
from fraudcore.monitoring.config import MonitorConfig, QualityConfig, load_monitor_config
from fraudcore.monitoring.quality import LabelError, expected_arrived, load_labels
from fraudcore.monitoring.signals import Signal, verdict
from fraudcore.synth.scenarios import SCENARIOS, scenario, simulate_label_arrival

ROOT = Path(__file__).resolve().parents[2]


def test_config_file_matches_the_defaults_and_the_deploy_alarms():
    assert load_monitor_config() == MonitorConfig()
    deploy = tomllib.loads((ROOT / "config" / "deploy.toml").read_text())
    cfg = MonitorConfig()
    assert cfg.publish.endpoint_name == deploy["endpoint"]["name"]
    assert cfg.drift.psi_major == deploy["alarms"]["drift_max_psi"]
    assert cfg.drift.missing_shift_max == deploy["alarms"]["missing_rate_shift"]
    assert cfg.drift.alert_rate_ratio_high == deploy["alarms"]["alert_rate_ratio_high"]
    assert cfg.drift.alert_rate_ratio_low == deploy["alarms"]["alert_rate_ratio_low"]


@pytest.mark.parametrize("data, match", [
    ({"drift": {"psi_majr": 0.3}}, r"unknown config key 'drift.psi_majr'; allowed in \[drift\]"),
    ({"alerts": {}}, r"unknown config key 'alerts'; allowed in the top level"),
    ({"quality": {"min_maturity": 1.5}}, r"'quality.min_maturity' must be a share in \(0, 1\]; got 1.5"),
    ({"quality": {"min_positives": 40.0}}, r"'quality.min_positives' must be an int; got 40.0"),
    ({"drift": {"psi_moderate": 0.3, "psi_major": 0.2}}, r"'drift.psi_major' must be >= drift.psi_moderate"),
    ({"capture": {"sample_rate": 0}}, r"'capture.sample_rate' must be a share"),
    ({"publish": {"namespace": "AWS/SageMaker"}}, r"'publish.namespace' must be"),
])
def test_bad_config_is_refused_with_the_key_and_rule(data, match):
    with pytest.raises(ConfigError, match=match):
        MonitorConfig.from_dict(data)


def test_config_file_overrides_apply(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text((CONFIG_DIR / "monitor.toml").read_text() + "\n[quality]\nmin_maturity = 0.8\n")
    assert load_monitor_config(path).quality.min_maturity == 0.8
    path.write_text("[quality]\nmin_maturty = 0.8\n")
    with pytest.raises(ConfigError, match=f"{path}: unknown config key 'quality.min_maturty'"):
        load_monitor_config(path)
    assert load_monitor_config(overrides={"drift": {"psi_major": 0.3}}).drift.psi_major == 0.3


def test_scenarios_are_named_specs_with_descriptions():
    assert set(SCENARIOS) == {"in_distribution", "feed_outage", "new_pattern", "seasonal"}
    assert scenario("feed_outage").spec.feed_outage_rate > 0
    assert scenario("new_pattern").spec.novel_pattern_rate > 0 and scenario("new_pattern").spec.novel_pattern_effect > 0
    assert scenario("seasonal").spec.seasonal_amount_factor > 1
    assert scenario("in_distribution").spec == scenario("in_distribution").spec.__class__()
    assert all(scenario(n).description for n in SCENARIOS)
    with pytest.raises(ValueError, match="scenario must be one of"):
        scenario("blizzard")


def test_labels_arrive_late_with_the_configured_median():
    n = 4000
    t = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.arange(n) % 30, unit="D")
    y = np.zeros(n, dtype=int)
    y[::2] = 1
    labels = simulate_label_arrival(np.arange(n), y, t, seed=3)
    assert len(labels) == n // 2 and (labels["is_fraud"] == 1).all()
    delay = (labels["label_time"] - t[::2].to_series().reset_index(drop=True)).dt.total_seconds() / 86400
    assert (delay > 0).all()
    assert 19 < delay.median() < 23
    # the monitor's maturity curve agrees with what the simulator produces
    assert expected_arrived(21.0, QualityConfig()) == pytest.approx(0.5)
    assert np.mean(delay <= 45) == pytest.approx(float(expected_arrived(45.0, QualityConfig())), abs=0.03)


def test_labels_file_is_checked(tmp_path):
    good = tmp_path / "l.csv"
    pd.DataFrame({"transaction_id": [1, 2, 2], "is_fraud": [1, 0, 1],
                  "label_time": ["2026-12-01", "2026-12-02", "2026-12-20"]}).to_csv(good, index=False)
    labels = load_labels(good)
    assert labels.set_index("transaction_id")["is_fraud"].to_dict() == {1: 1, 2: 1}  # latest label wins
    bad = tmp_path / "b.csv"
    pd.DataFrame({"transaction_id": [1], "is_fraud": [3]}).to_csv(bad, index=False)
    with pytest.raises(LabelError, match="is_fraud 0 or 1"):
        load_labels(bad)
    with pytest.raises(LabelError, match="column 'is_fraud' is required"):
        pd.DataFrame({"transaction_id": [1]}).to_csv(bad, index=False)
        load_labels(bad)


def test_verdict_is_the_worst_signal():
    inv = Signal("feature_psi", "investigate", 0.3, 0.25, "amount", "")
    ret = Signal("pr_auc_drop", "retrain", 0.5, 0.75, "quality", "")
    assert verdict([]) == "healthy"
    assert verdict([inv]) == "investigate"
    assert verdict([inv, ret]) == "retrain"
    with pytest.raises(ValueError, match="signal level"):
        Signal("x", "panic", 0, 0, "", "")
