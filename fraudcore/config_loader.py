"""The one config loader: TOML files under config/ -> typed, frozen dataclasses.

Train (fraudcore.config), monitor (fraudcore.monitoring.config), serve (fraudcore.serving.config) and
deploy (deploy/config.py) configs are all built here, so they share one set of rules:
- a field's default lives on the dataclass and nowhere else; a field without a default is required
  (deploy's: its values live only in config/deploy.toml);
- types follow the annotations and are checked on construction (`check_types` in `__post_init__`),
  so a config built in code is held to the same rules as one read from a file;
- ranges are checked on construction by each class (`need`);
- an unknown or missing key is an error that names the key and the file.

Adding a field is one line on the dataclass (with its default) plus, if it has a range, one `need`.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from fraudcore.errors import EXIT_USAGE, FraudError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

C = TypeVar("C", bound="ConfigFile")


class ConfigError(FraudError, ValueError):
    """A config that cannot be used; the message names the file or key, the rule and the value received."""

    exit_code = EXIT_USAGE


def need(ok: bool, key: str, rule: str, value: Any) -> None:
    """Raise ConfigError "config key 'key' <rule>; got <value>" unless `ok`."""
    if not ok:
        raise ConfigError(f"config key '{key}' {rule}; got {value!r}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_pairs(tp: Any) -> bool:
    """tuple[tuple[str, str], ...]: written as a TOML table of name = value (e.g. a column map)."""
    args = typing.get_args(tp)
    return (typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis
            and typing.get_origin(args[0]) is tuple)


def _convert(tp: Any, value: Any, key: str) -> Any:
    """`value` as type `tp` (int -> float, list -> tuple, table -> dataclass), or ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for alternative in inner:  # the first alternative the value fits, e.g. a list or a path string
            try:
                return _convert(alternative, value, key)
            except ConfigError as err:
                errors.append(str(err).split("; got ")[0].replace(f"config key '{key}' ", ""))
        raise ConfigError(f"config key '{key}' {' or '.join(errors)}; got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        need(isinstance(value, Mapping), key, "must be a table", value)
        return build(tp, value, key)
    if _is_pairs(tp):
        if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
            return value
        need(isinstance(value, Mapping), key, "must be a table of name = value", value)
        return tuple((str(k), str(v)) for k, v in value.items())
    if origin is tuple:
        need(isinstance(value, list | tuple), key, "must be a list", value)
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        return tuple(_convert(inner, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        need(isinstance(value, Mapping), key, "must be a table", value)
        args = typing.get_args(tp)
        inner = args[1] if args else Any
        return {str(k): _convert(inner, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        need(isinstance(value, bool), key, "must be true or false", value)
    elif tp is int:
        need(isinstance(value, int) and not isinstance(value, bool), key, "must be an int", value)
    elif tp is float:
        need(isinstance(value, int | float) and not isinstance(value, bool), key, "must be a number", value)
        return float(value)
    elif tp is str:
        need(isinstance(value, str), key, "must be a string", value)
    return value


def check_types(obj: Any, prefix: str = "") -> None:
    """Check (and normalise: int -> float, list -> tuple) every field of a frozen config dataclass.

    Call first in `__post_init__`; `prefix` is the section's key ("drift", "tuning.space") for messages.
    """
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        converted = _convert(hints[f.name], value, _join(prefix, f.name))
        if converted is not value:
            object.__setattr__(obj, f.name, converted)


def build(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    """A `cls` from nested plain data; unknown and missing keys are errors naming the dotted key."""
    need(isinstance(data, Mapping), prefix or "(top level)", "must be a table", data)
    hints = _hints(cls)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    unknown = sorted(set(data) - set(names))
    if unknown:
        keys = ", ".join(f"'{_join(prefix, k)}'" for k in unknown)
        raise ConfigError(f"unknown config key {keys}; allowed in {f'[{prefix}]' if prefix else 'the top level'}: "
                          f"{names}")
    missing = [f.name for f in fields if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        keys = ", ".join(f"'{_join(prefix, k)}'" for k in missing)
        raise ConfigError(f"missing required config key {keys}")
    return cls(**{n: _convert(hints[n], data[n], _join(prefix, n)) for n in names if n in data})


def to_plain(obj: Any, tp: Any = None) -> Any:
    """Plain data (dicts, lists, scalars) that `build` turns back into an equal object."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        hints = _hints(type(obj))
        return {f.name: to_plain(getattr(obj, f.name), hints[f.name]) for f in dataclasses.fields(obj)}
    if tp is not None and _is_pairs(tp):
        return {k: v for k, v in obj}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    return obj


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        old = out.get(key)
        out[key] = _merge(old, value) if isinstance(value, Mapping) and isinstance(old, Mapping) else value
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML file as a dict; a missing or malformed file is a ConfigError naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {p} is not valid TOML: {err}") from err


class ConfigFile:
    """Mixin for a top-level config: `load`, `from_dict`, `to_dict`, `replace`.

    A subclass names its file under config/ in `FILE`; `load(None)` reads that file.
    """

    FILE: ClassVar[str] = ""

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any] | None, source: str = "") -> C:
        """Build from nested plain data (a parsed TOML file); `source` (a file) prefixes any error."""
        try:
            return build(cls, data or {})
        except ConfigError as err:
            if not source:
                raise
            raise ConfigError(f"{source}: {err}") from err

    @classmethod
    def from_toml(cls: type[C], text: str, source: str = "") -> C:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{source or 'config'} is not valid TOML: {err}") from err
        return cls.from_dict(data, source)

    @classmethod
    def load(cls: type[C], path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> C:
        """Read `path` (default config/<FILE>), lay the nested `overrides` over it, and build."""
        if path is None and not cls.FILE:
            raise ConfigError(f"{cls.__name__} has no default file under config/; give a path")
        p = Path(path) if path is not None else CONFIG_DIR / cls.FILE
        return cls.from_dict(_merge(read_toml(p), overrides or {}), str(p))

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with dotted keys changed, e.g. replace(**{"data.path": "x", "seed": 3}); checked again."""
        d = self.to_dict()
        for dotted, value in changes.items():
            node = d
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node.get(p) if isinstance(node, dict) else None
                if node is None:
                    break
            if not isinstance(node, dict) or leaf not in node:
                raise ConfigError(f"config key '{dotted}' is not a known key")
            node[leaf] = value
        return type(self).from_dict(d)


def positive(key: str, value: float) -> None:
    """A finite number > 0."""
    need(math.isfinite(value) and value > 0, key, "must be a finite number > 0", value)


def share(key: str, value: float) -> None:
    """A share in (0, 1]."""
    need(0 < value <= 1, key, "must be a share in (0, 1]", value)
