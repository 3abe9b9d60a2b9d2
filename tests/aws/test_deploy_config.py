"""config/deploy.toml: every key required, typed and range-checked; errors name the key, the rule, the
value and the file."""
from __future__ import annotations

import pytest

from deploy.config import DeployConfig, load_deploy_config
from fraudcore.config_loader import CONFIG_DIR, ConfigError

DEPLOY_TOML = CONFIG_DIR / "deploy.toml"


def test_the_shipped_config_loads():
    cfg = load_deploy_config()
    assert cfg.scaling.min_instances >= 2 and cfg.rollout.canary_percent == 10
    assert cfg.storage.sagemaker_capture_uri == "s3://paylink-fraud-artifacts/capture/sagemaker"
    assert cfg.storage.service_capture_uri == "s3://paylink-fraud-artifacts/capture/service"


@pytest.mark.parametrize(("override", "message"), [
    ({"scaling": {"min_instances": 1}}, "'scaling.min_instances' must be >= 2 (one instance per AZ, so one can fail) "
                                        "and <= 100; got 1"),
    ({"scaling": {"min_instances": 4, "max_instances": 3}}, "'scaling.max_instances' must be >= scaling.min_instances (4); got 3"),
    ({"rollout": {"canary_percent": 80}}, "'rollout.canary_percent' must be between 1 and 50; got 80"),
    ({"alarms": {"error_5xx_rate": "1%"}}, "'alarms.error_5xx_rate' must be a number; got '1%'"),
    ({"endpoint": {"initial_instance_count": 9}}, "'endpoint.initial_instance_count' must be between "
                                                  "scaling.min_instances (2) and scaling.max_instances (8); got 9"),
    ({"endpoint": {"name": "paylink-fraud-scoring-endpoint"}}, "'endpoint.name' must be letters, digits"),
    ({"storage": {"capture_prefix": "/capture/"}}, "'storage.capture_prefix' must be an S3 key prefix"),
    ({"model": {"execution_role_arn": "paylink-role"}}, "'model.execution_role_arn' must be an IAM role ARN"),
    ({"alarms": {"datapoints_to_alarm": 5}}, "'alarms.datapoints_to_alarm' must be <= alarms.evaluation_periods (3); got 5"),
    ({"rollout": {"max_execution_seconds": 700}}, "'rollout.max_execution_seconds' must be >= canary_bake_seconds + "
                                                  "termination_wait_seconds (900); got 700"),
    ({"rollout": {"bake_seconds": 60}}, "unknown config key 'rollout.bake_seconds'; allowed in [rollout]"),
])
def test_bad_values_are_refused_with_key_rule_and_value(override, message):
    with pytest.raises(ConfigError) as err:
        load_deploy_config(overrides=override)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{DEPLOY_TOML}: ")


def test_missing_keys_and_files_are_errors(tmp_path):
    text = DEPLOY_TOML.read_text().replace("smoke_requests = 3\n", "")
    (tmp_path / "deploy.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"deploy.toml: missing required config key 'rollout.smoke_requests'"):
        load_deploy_config(tmp_path / "deploy.toml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_deploy_config(tmp_path / "nope.toml")


def test_types_and_ranges_are_checked_on_construction_too():
    cfg = load_deploy_config()
    with pytest.raises(ConfigError, match="'scaling.min_instances' must be an int; got '2'"):
        type(cfg.scaling)(**{**cfg.scaling.__dict__, "min_instances": "2"})
    with pytest.raises(ConfigError, match="'rollout.canary_percent' must be between 1 and 50; got 0"):
        type(cfg.rollout)(**{**cfg.rollout.__dict__, "canary_percent": 0})
    assert DeployConfig.from_dict(cfg.to_dict()) == cfg
