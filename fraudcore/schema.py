"""The one declaration of every field, loaded from a TOML file into typed objects.

Everything that needs to know a field's name, type or valid values derives it from here,
so a user's own dataset is described by writing another schema file, not by changing code.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fraudcore.errors import FraudError

DTYPES = ("float", "int", "bool", "category", "string", "timestamp")
ROLES = ("id", "time", "feature", "label", "oracle")
GROUPS = ("transaction", "customer", "merchant", "time", "risk")
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.toml"
_FIELD_KEYS = {"name", "dtype", "role", "group", "nullable", "min", "max", "categories", "description"}


class SchemaError(FraudError, ValueError):
    """The schema declaration itself is invalid."""


@dataclass(frozen=True)
class Field:
    """One column: its type, whether it may be null, its valid values and its role."""

    name: str
    dtype: str
    role: str = "feature"
    group: str | None = None
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"field '{self.name}'"
        if not self.name or not self.name.replace("_", "").isalnum():
            raise SchemaError(f"{where}: name must be a non-empty identifier; got {self.name!r}")
        if self.dtype not in DTYPES:
            raise SchemaError(f"{where}: dtype must be one of {DTYPES}; got {self.dtype!r}")
        if self.role not in ROLES:
            raise SchemaError(f"{where}: role must be one of {ROLES}; got {self.role!r}")
        if self.role == "feature" and self.dtype in ("string", "timestamp"):
            raise SchemaError(f"{where}: a feature must be float, int, bool or category; got {self.dtype!r}")
        if self.dtype == "category":
            if not self.categories:
                raise SchemaError(f"{where}: a category field needs a non-empty 'categories' list")
            if len(set(self.categories)) != len(self.categories):
                raise SchemaError(f"{where}: 'categories' has duplicates: {list(self.categories)}")
        elif self.categories is not None:
            raise SchemaError(f"{where}: 'categories' is only allowed for dtype 'category'; got dtype {self.dtype!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SchemaError(f"{where}: min must be <= max; got min={self.min}, max={self.max}")
        if (self.min is not None or self.max is not None) and self.dtype not in ("float", "int"):
            raise SchemaError(f"{where}: min/max are only allowed for float and int; got dtype {self.dtype!r}")

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("float", "int", "bool")

    def describe_range(self) -> str:
        """Human-readable valid values, as used in error messages and the docs table."""
        if self.dtype == "category":
            return "one of " + ", ".join(self.categories or ())
        if self.dtype == "bool":
            return "true/false (or 0/1)"
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        return f"[{lo}, {hi}]"


@dataclass(frozen=True)
class Schema:
    """A dataset declaration: fields plus which columns are id, time and label."""

    name: str
    fields: tuple[Field, ...]
    label: str
    time: str
    id: str
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SchemaError(f"schema '{self.name}': field names must be unique; duplicated: {dupes}")
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        for key, role in (("label", "label"), ("time", "time"), ("id", "id")):
            col = getattr(self, key)
            if col not in self.by_name:
                raise SchemaError(f"schema '{self.name}': {key} column {col!r} is not a declared field")
            if self.by_name[col].role != role:
                raise SchemaError(
                    f"schema '{self.name}': {key} column {col!r} must have role '{role}'; "
                    f"got {self.by_name[col].role!r}"
                )
        if not self.features:
            raise SchemaError(f"schema '{self.name}': declares no field with role 'feature'")

    @property
    def features(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.role == "feature")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def oracle(self) -> str | None:
        return next((f.name for f in self.fields if f.role == "oracle"), None)

    def groups(self) -> dict[str, list[str]]:
        """Feature names per group, in declaration order."""
        out: dict[str, list[str]] = {}
        for f in self.features:
            out.setdefault(f.group or "ungrouped", []).append(f.name)
        return out

    def __getitem__(self, name: str) -> Field:
        try:
            return self.by_name[name]
        except KeyError as err:
            raise KeyError(f"schema '{self.name}' has no field {name!r}") from err

    def to_dict(self) -> dict[str, Any]:
        fields = []
        for f in self.fields:
            d = {k: v for k, v in asdict(f).items() if v is not None and v != ""}
            if f.categories is not None:
                d["categories"] = list(f.categories)
            fields.append(d)
        return {"name": self.name, "label": self.label, "time": self.time, "id": self.id, "fields": fields}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def schema_from_dict(data: dict[str, Any]) -> Schema:
    """Build a Schema from its declaration; unknown keys are an error, not ignored."""
    unknown = set(data) - {"name", "label", "time", "id", "fields"}
    if unknown:
        raise SchemaError(f"schema: unknown top-level keys {sorted(unknown)}")
    for key in ("label", "time", "id", "fields"):
        if key not in data:
            raise SchemaError(f"schema: missing required top-level key {key!r}")
    fields = []
    for i, raw in enumerate(data["fields"]):
        extra = set(raw) - _FIELD_KEYS
        if extra:
            raise SchemaError(f"schema field #{i} ({raw.get('name')!r}): unknown keys {sorted(extra)}")
        if "name" not in raw or "dtype" not in raw:
            raise SchemaError(f"schema field #{i}: 'name' and 'dtype' are required; got keys {sorted(raw)}")
        kwargs = dict(raw)
        if "categories" in kwargs:
            kwargs["categories"] = tuple(str(c) for c in kwargs["categories"])
        fields.append(Field(**kwargs))
    return Schema(name=data.get("name", "dataset"), fields=tuple(fields), label=data["label"],
                  time=data["time"], id=data["id"])


def load_schema(path: str | Path | None = None) -> Schema:
    """Load a schema from a TOML or JSON file (default: the PayLink schema)."""
    p = Path(path) if path is not None else DEFAULT_SCHEMA_PATH
    if not p.exists():
        raise SchemaError(f"schema file not found: {p}")
    text = p.read_text()
    data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    return schema_from_dict(data)


def paylink_schema() -> Schema:
    """The PayLink schema shipped with the project."""
    return load_schema(DEFAULT_SCHEMA_PATH)
