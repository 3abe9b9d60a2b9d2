"""Load and validate config/features.toml against the schema and the event tables.

Every refusal names the key (`features.transactions_24h.window: ...`), so a user's own declaration
can be fixed without reading code. Nothing here names a PayLink field: those live only in the TOML.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from fraudcore.features.definitions import (
    CALENDARS, FUNCTIONS, NULL_WHEN_EMPTY, OPS, REQUEST_KINDS, VALUE_OPS, AggregateFeature, ColumnRef,
    DerivedFeature, Equals, Feature, History, ReferenceFeature, RequestFeature,
)
from fraudcore.features.durations import format_duration, parse_duration
from fraudcore.features.errors import FeatureConfigError
from fraudcore.features.tables import EventTables, load_tables
from fraudcore.schema import Schema, load_schema

DEFAULT_FEATURES_PATH = Path(__file__).resolve().parents[2] / "config" / "features.toml"
_TOP_KEYS = {"schema", "events", "target", "features", "outcomes"}
_LABEL_KEYS = {"stream", "key", "column", "oracle_table"}
_KEYS = {
    "request": {"kind", "column"},
    "vendor": {"kind", "column"},
    "derived": {"kind", "function", "inputs", "calendar"},
    "reference": {"kind", "table", "column", "max_age", "default"},
    "aggregate": {"kind", "stream", "key", "op", "column", "window", "lag", "filter", "null_without", "default"},
}
_ARITY = {"hour_of_day": 0, "day_of_week": 0, "is_holiday": 0, "days_since": 1, "differs": 2, "lookup": 1}
# which produced dtypes each schema dtype accepts
_ACCEPTS = {"int": {"int"}, "float": {"float", "int"}, "bool": {"bool"}, "category": {"category", "string"}}


@dataclass(frozen=True)
class LabelSource:
    """The outcome stream: a row per recorded outcome, counted from its time column (when it became known)."""

    stream: str
    key: str                  # the stream's column holding the target event's id
    column: str               # 1 = fraud
    known_at: str             # the stream's time column
    oracle_table: str | None  # synthetic data only: <root>/<table>/ holds the id and the schema's oracle column


@dataclass(frozen=True)
class FeatureSet:
    """The validated declarations: schema, event tables, the target stream and one definition per feature."""

    schema: Schema
    tables: EventTables
    target: str
    features: tuple[Feature, ...]          # in the schema's feature order
    outcomes: LabelSource | None = None    # where outcomes come from (training only)

    @property
    def target_table(self):
        return self.tables[self.target]

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Id and time columns of the schema that the target carries, then the features."""
        ids = tuple(f.name for f in self.schema.fields
                    if f.role in ("id", "time") and f.name in self.tables[self.target].columns)
        return ids + self.schema.feature_names

    def of_kind(self, *kinds: str) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.kind in kinds)

    def max_window_ns(self) -> int:
        """The longest lookback any aggregate needs (window or null_without window)."""
        spans = [0]
        for f in self.of_kind("aggregate"):
            spans.append(f.window_ns)
            if f.null_without is not None:
                spans.append(f.null_without.window_ns)
        return max(spans)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target,
                "tables": {n: {"kind": t.kind, "columns": dict(t.columns), "key": t.key, "id": t.id,
                               "time": t.time, "refs": dict(t.refs)} for n, t in self.tables.tables.items()},
                "features": [asdict(f) for f in self.features],
                "outcomes": None if self.outcomes is None else asdict(self.outcomes)}

    def fingerprint(self) -> str:
        """sha256 of the declarations (not of the file text), for reuse of a backfill by content hash."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _duration(raw: Mapping[str, Any], name: str, key: str, default: int | None = None) -> int | None:
    if name not in raw:
        return default
    return parse_duration(raw[name], f"{key}.{name}")


def _number(raw: Mapping[str, Any], key: str) -> float | None:
    if "default" not in raw:
        return None
    value = raw["default"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FeatureConfigError(f"{key}.default: must be a number; got {value!r}")
    return float(value)


class _Builder:
    """Turns one raw [features.X] table into a definition, checking every name it uses."""

    def __init__(self, schema: Schema, tables: EventTables, target: str) -> None:
        self.schema, self.tables, self.target = schema, tables, target

    def column_dtype(self, table: str, column: str, key: str) -> str:
        cols = self.tables[table].columns
        if column not in cols:
            raise FeatureConfigError(f"{key}: table {table!r} has no column {column!r}; columns are {sorted(cols)}")
        return cols[column]

    def stream(self, name: object, key: str) -> str:
        t = self.tables.tables.get(name) if isinstance(name, str) else None
        if t is None or t.kind != "stream":
            streams = sorted(n for n, t in self.tables.tables.items() if t.kind == "stream")
            raise FeatureConfigError(f"{key}: unknown stream {name!r}; declared streams are {streams}")
        return name

    def build(self, name: str, raw: Mapping[str, Any]) -> tuple[Feature, str, bool]:
        """The definition, the dtype it produces, and whether it can be missing."""
        key = f"features.{name}"
        if not isinstance(raw, Mapping):
            raise FeatureConfigError(f"{key}: must be a table with a 'kind'; got {raw!r}")
        kind = raw.get("kind")
        if kind not in _KEYS:
            raise FeatureConfigError(f"{key}.kind: must be one of {sorted(_KEYS)}; got {kind!r}")
        extra = set(raw) - _KEYS[kind]
        if extra:
            raise FeatureConfigError(f"{key}: unknown keys {sorted(extra)} for kind {kind!r}; "
                                     f"allowed {sorted(_KEYS[kind])}")
        return getattr(self, f"_{kind if kind not in REQUEST_KINDS else 'request'}")(name, raw, key)

    def _request(self, name: str, raw: Mapping[str, Any], key: str) -> tuple[Feature, str, bool]:
        column = raw.get("column", name)
        dtype = self.column_dtype(self.target, column, f"{key}.column")
        return RequestFeature(name, raw["kind"], column), dtype, True

    def _ref(self, text: object, key: str) -> tuple[ColumnRef, str]:
        if not isinstance(text, str) or text.count(".") != 1:
            raise FeatureConfigError(f"{key}: must be 'table.column'; got {text!r}")
        table, column = text.split(".")
        if table not in self.tables.tables:
            raise FeatureConfigError(f"{key}: unknown table {table!r}")
        if table != self.target:
            try:
                self.tables.path(self.target, table)
            except LookupError as err:
                raise FeatureConfigError(f"{key}: {err}") from err
        return ColumnRef(table, column), self.column_dtype(table, column, key)

    def _derived(self, name: str, raw: Mapping[str, Any], key: str) -> tuple[Feature, str, bool]:
        fn = raw.get("function")
        if fn not in FUNCTIONS:
            raise FeatureConfigError(f"{key}.function: must be one of {FUNCTIONS}; got {fn!r}")
        inputs = raw.get("inputs", [])
        if not isinstance(inputs, list) or len(inputs) != _ARITY[fn]:
            raise FeatureConfigError(f"{key}.inputs: {fn} takes {_ARITY[fn]} 'table.column' inputs; got {inputs!r}")
        refs = [self._ref(text, f"{key}.inputs[{i}]") for i, text in enumerate(inputs)]
        calendar = raw.get("calendar")
        if (fn == "is_holiday") != (calendar is not None):
            raise FeatureConfigError(f"{key}.calendar: required for is_holiday and only there; got {calendar!r}")
        if calendar is not None and calendar not in CALENDARS:
            raise FeatureConfigError(f"{key}.calendar: must be one of {CALENDARS}; got {calendar!r}")
        if fn == "days_since" and refs[0][1] != "timestamp":
            raise FeatureConfigError(f"{key}.inputs[0]: days_since needs a timestamp column; "
                                     f"{refs[0][0]} is {refs[0][1]!r}")
        dtype = {"hour_of_day": "int", "day_of_week": "int", "is_holiday": "bool", "days_since": "int",
                 "differs": "bool"}.get(fn) or refs[0][1]
        missing = fn in ("days_since", "lookup")
        return DerivedFeature(name, fn, tuple(r for r, _ in refs), calendar), dtype, missing

    def _reference(self, name: str, raw: Mapping[str, Any], key: str) -> tuple[Feature, str, bool]:
        table = raw.get("table")
        t = self.tables.tables.get(table) if isinstance(table, str) else None
        if t is None or t.kind != "snapshot":
            snaps = sorted(n for n, t in self.tables.tables.items() if t.kind == "snapshot")
            raise FeatureConfigError(f"{key}.table: unknown snapshot table {table!r}; declared are {snaps}")
        column = raw.get("column", name)
        dtype = self.column_dtype(table, column, f"{key}.column")
        entity = t.refs.get(t.key)
        if entity is None:
            raise FeatureConfigError(f"{key}.table: snapshot {table!r} must declare refs.{t.key} (the entity its "
                                     f"key points at) so the engine can reach it from {self.target!r}")
        try:
            self.tables.path(self.target, entity)
        except LookupError as err:
            raise FeatureConfigError(f"{key}.table: {err}") from err
        default = _number(raw, key)
        feat = ReferenceFeature(name, table, column, _duration(raw, "max_age", key), default)
        return feat, dtype, default is None

    def _aggregate(self, name: str, raw: Mapping[str, Any], key: str) -> tuple[Feature, str, bool]:
        stream = self.stream(raw.get("stream"), f"{key}.stream")
        keys = raw.get("key")
        keys = [keys] if isinstance(keys, str) else keys
        if not isinstance(keys, list) or not keys:
            raise FeatureConfigError(f"{key}.key: must be a column or a non-empty list of columns; got {keys!r}")
        for col in keys:
            self.column_dtype(stream, col, f"{key}.key")
            self.column_dtype(self.target, col, f"{key}.key")
        op = raw.get("op")
        if op not in OPS:
            raise FeatureConfigError(f"{key}.op: must be one of {OPS}; got {op!r}")
        column = raw.get("column")
        if op in VALUE_OPS and column is None:
            raise FeatureConfigError(f"{key}.column: op {op!r} needs a column to aggregate")
        if op not in VALUE_OPS and column is not None:
            raise FeatureConfigError(f"{key}.column: op {op!r} takes no column; got {column!r}")
        col_dtype = self.column_dtype(stream, column, f"{key}.column") if column is not None else None
        if op in ("sum", "mean", "std") and col_dtype not in ("int", "float", "bool"):
            raise FeatureConfigError(f"{key}.column: op {op!r} needs a numeric column; {column!r} is {col_dtype!r}")
        if "window" not in raw:
            raise FeatureConfigError(f"{key}.window: required for an aggregate")
        window = _duration(raw, "window", key)
        lag = _duration(raw, "lag", key, default=0)
        if window <= lag:
            raise FeatureConfigError(f"{key}.window: must be longer than its lag; got window "
                                     f"{format_duration(window)} and lag {format_duration(lag)}")
        filters = self._filters(raw.get("filter", []), stream, f"{key}.filter")
        history = None
        if "null_without" in raw:
            history = self._history(raw["null_without"], keys, f"{key}.null_without")
        default = _number(raw, key)
        feat = AggregateFeature(name, stream, tuple(keys), op, window, lag, column, filters, history, default)
        dtype = {"count": "int", "distinct_count": "int", "exists": "bool", "first_time": "bool",
                 "sum": "float" if col_dtype == "float" else "int"}.get(op, col_dtype if op in ("min", "max") else "float")
        missing = (op in NULL_WHEN_EMPTY or history is not None) and default is None
        return feat, dtype, missing

    def _filters(self, raw: object, stream: str, key: str) -> tuple[Equals, ...]:
        if not isinstance(raw, list):
            raise FeatureConfigError(f"{key}: must be a list of {{column, equals}} tables; got {raw!r}")
        out = []
        for i, item in enumerate(raw):
            where = f"{key}[{i}]"
            if not isinstance(item, Mapping) or set(item) != {"column", "equals"}:
                raise FeatureConfigError(f"{where}: must be {{column = ..., equals = ...}}; got {item!r}")
            dtype = self.column_dtype(stream, item["column"], f"{where}.column")
            value = item["equals"]
            ok = {"bool": isinstance(value, bool), "int": isinstance(value, int) and not isinstance(value, bool),
                  "float": isinstance(value, (int, float)) and not isinstance(value, bool)}.get(dtype,
                                                                                             isinstance(value, str))
            if not ok:
                raise FeatureConfigError(f"{where}.equals: column {item['column']!r} is {dtype!r}; got {value!r}")
            out.append(Equals(item["column"], value))
        return tuple(out)

    def _history(self, raw: object, keys: list[str], key: str) -> History:
        if not isinstance(raw, Mapping) or set(raw) != {"stream", "window"}:
            raise FeatureConfigError(f"{key}: must be {{stream = ..., window = ...}}; got {raw!r}")
        stream = self.stream(raw["stream"], f"{key}.stream")
        for col in keys:
            self.column_dtype(stream, col, f"{key}.stream")
        return History(stream, parse_duration(raw["window"], f"{key}.window"))


def feature_set_from_dict(data: Mapping[str, Any], schema: Schema, tables: EventTables) -> FeatureSet:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise FeatureConfigError(f"features file: unknown top-level keys {sorted(unknown)}")
    target = data.get("target")
    if target not in tables.tables or tables[target].kind != "stream":
        raise FeatureConfigError(f"target: must name a stream table; got {target!r}")
    raw = data.get("features")
    if not isinstance(raw, Mapping):
        raise FeatureConfigError("features: declare one [features.<name>] table per schema feature")
    extra = [n for n in raw if n not in schema.feature_names]
    if extra:
        raise FeatureConfigError(f"features.{extra[0]}: no schema feature has this name "
                                 f"(schema {schema.name!r}); defined without a schema field: {extra}")
    missing = [n for n in schema.feature_names if n not in raw]
    if missing:
        raise FeatureConfigError(f"features: schema features without a definition: {missing}")
    builder = _Builder(schema, tables, target)
    out = []
    for name in schema.feature_names:
        feat, dtype, can_miss = builder.build(name, raw[name])
        field = schema[name]
        if dtype not in _ACCEPTS[field.dtype]:
            raise FeatureConfigError(f"features.{name}: produces {dtype!r} values but the schema field is "
                                     f"{field.dtype!r}")
        if can_miss and not field.nullable and feat.kind in ("reference", "aggregate"):
            raise FeatureConfigError(f"features.{name}: can be missing (no event or snapshot in reach) but the "
                                     f"schema field is not nullable; declare a default")
        out.append(feat)
    labels = _labels(data["outcomes"], tables, target) if "outcomes" in data else None
    return FeatureSet(schema=schema, tables=tables, target=target, features=tuple(out), outcomes=labels)


def _labels(raw: object, tables: EventTables, target: str) -> LabelSource:
    if not isinstance(raw, Mapping) or not {"stream", "key", "column"} <= set(raw) or set(raw) - _LABEL_KEYS:
        raise FeatureConfigError(f"outcomes: must be {{stream, key, column[, oracle_table]}}; got {raw!r}")
    t = tables.tables.get(raw["stream"]) if isinstance(raw["stream"], str) else None
    if t is None or t.kind != "stream":
        raise FeatureConfigError(f"outcomes.stream: must name a stream table; got {raw['stream']!r}")
    for name in ("key", "column"):
        if raw[name] not in t.columns:
            raise FeatureConfigError(f"outcomes.{name}: table {raw['stream']!r} has no column {raw[name]!r}; "
                                     f"columns are {sorted(t.columns)}")
    if t.columns[raw["key"]] != tables[target].columns[tables[target].id]:
        raise FeatureConfigError(f"outcomes.key: {raw['key']!r} must have the dtype of {target}.{tables[target].id}")
    return LabelSource(raw["stream"], raw["key"], raw["column"], t.time, raw.get("oracle_table"))


def load_feature_set(path: str | Path | None = None, schema: Schema | None = None,
                     tables: EventTables | None = None) -> FeatureSet:
    """Load features.toml; its `schema` and `events` paths are relative to it unless passed in."""
    p = Path(path) if path is not None else DEFAULT_FEATURES_PATH
    if not p.exists():
        raise FileNotFoundError(f"features declaration not found: {p}")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise FeatureConfigError(f"{p}: not valid TOML ({err})") from err
    for name in ("schema", "events"):
        if name not in data and (schema if name == "schema" else tables) is None:
            raise FeatureConfigError(f"{name}: the path of the {name} file is required")
    schema = schema or load_schema(p.parent / data["schema"])
    tables = tables or load_tables(p.parent / data["events"])
    return feature_set_from_dict(data, schema, tables)
