"""The one config loader: the same rules for train, monitor, serve and deploy configs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from deploy.config import DeployConfig
from fraudcore.config import TrainConfig, parse_train_toml
from fraudcore.config_loader import CONFIG_DIR, ConfigError, ConfigFile, check_types, need, read_toml
from fraudcore.monitoring.config import MonitorConfig, parse_monitor_toml
from fraudcore.serving.config import ServeConfig

CONFIGS = {"train.toml": TrainConfig, "monitor.toml": MonitorConfig, "deploy.toml": DeployConfig}


@dataclass(frozen=True)
class _Inner:
    rate: float = 0.5
    names: tuple[str, ...] = ("a",)

    def __post_init__(self) -> None:
        check_types(self, "inner")
        need(0 < self.rate <= 1, "inner.rate", "must be in (0, 1]", self.rate)


@dataclass(frozen=True)
class _Example(ConfigFile):
    FILE = "example.toml"

    required: str
    count: int = 3
    label: str | None = None
    inner: _Inner = _Inner()

    def __post_init__(self) -> None:
        check_types(self, "")


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        out.update(_leaves(v, key) if isinstance(v, dict) else {key: v})
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_shipped_files_load_and_repeat_no_default(name: str) -> None:
    cls = CONFIGS[name]
    cfg = cls.load(CONFIG_DIR / name)
    assert cls.from_dict(cfg.to_dict()) == cfg
    if name == "deploy.toml":
        return  # no defaults: every key is required and lives only in the file
    defaults = _leaves(cls().to_dict())
    written = _leaves(read_toml(CONFIG_DIR / name))
    repeated = sorted(k for k, v in written.items() if defaults.get(k) == v)
    assert repeated == [], f"{name} repeats defaults of {cls.__name__}: {repeated}"


def test_types_are_converted_and_checked() -> None:
    cfg = _Example.from_dict({"required": "x", "inner": {"rate": 1, "names": ["b", "c"]}})
    assert cfg.inner == _Inner(1.0, ("b", "c")) and isinstance(cfg.inner.rate, float)
    assert _Example.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="config key 'count' must be an int; got 2.5"):
        _Example.from_dict({"required": "x", "count": 2.5})
    with pytest.raises(ConfigError, match="config key 'inner.names\\[1\\]' must be a string; got 3"):
        _Example.from_dict({"required": "x", "inner": {"names": ["a", 3]}})
    with pytest.raises(ConfigError, match="config key 'count' must be an int; got True"):
        _Example(required="x", count=True)  # construction in code is held to the same rules
    with pytest.raises(ConfigError, match="config key 'inner.rate' must be in \\(0, 1\\]; got 2.0"):
        _Inner(rate=2)


def test_unknown_and_missing_keys_name_the_key_and_the_file(tmp_path) -> None:
    path = tmp_path / "example.toml"
    path.write_text('required = "x"\n[inner]\nrte = 0.2\n')
    with pytest.raises(ConfigError, match=f"^{path}: unknown config key 'inner.rte'; allowed in \\[inner\\]"):
        _Example.load(path)
    path.write_text("count = 4\n")
    with pytest.raises(ConfigError, match=f"^{path}: missing required config key 'required'"):
        _Example.load(path)
    assert _Example.load(path, overrides={"required": "y"}).required == "y"
    with pytest.raises(ConfigError, match="config file not found"):
        _Example.load(tmp_path / "nope.toml")


def test_replace_takes_dotted_keys_and_checks_again() -> None:
    cfg = _Example(required="x")
    assert cfg.replace(**{"inner.rate": 0.25, "label": "l"}) == _Example("x", 3, "l", _Inner(0.25))
    with pytest.raises(ConfigError, match="'inner.rat' is not a known key"):
        cfg.replace(**{"inner.rat": 0.25})
    with pytest.raises(ConfigError, match="'inner.rate' must be in"):
        cfg.replace(**{"inner.rate": 0})


def test_metaflow_parsers_check_and_fill_in_the_defaults() -> None:
    assert parse_train_toml("") == TrainConfig().to_dict()
    assert parse_monitor_toml("[drift]\npsi_major = 0.3\n")["drift"]["psi_major"] == 0.3
    with pytest.raises(ConfigError, match="the training config: unknown config key 'tuning.trials'"):
        parse_train_toml("[tuning]\ntrials = 3\n")


def test_serve_config_is_built_by_the_same_loader() -> None:
    assert ServeConfig.from_dict(ServeConfig(port=9000).to_dict()).port == 9000
    with pytest.raises(ConfigError, match="config key 'port' must be an int; got '80'"):
        ServeConfig(port="80")
    with pytest.raises(ConfigError, match="unknown config key 'prot'"):
        ServeConfig.from_dict({"prot": 80})
