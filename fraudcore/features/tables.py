"""The raw event tables a dataset provides (config/events.toml), as typed frozen declarations.

A table is an entity (static attributes, one row per key), a stream (timestamped events with an id) or
a snapshot (values published at a time for a key). `refs` say which entity a column points at; the
engine follows them to reach, say, a card's BIN from an authorisation.
"""
from __future__ import annotations

import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from fraudcore.features.errors import FeatureConfigError

KINDS = ("entity", "stream", "snapshot")
COLUMN_DTYPES = ("int", "float", "bool", "category", "string", "timestamp")
_TABLE_KEYS = {"kind", "columns", "key", "id", "time", "refs"}


@dataclass(frozen=True)
class Hop:
    """One step along a ref: `table.column` points at entity `to`."""

    table: str
    column: str
    to: str


@dataclass(frozen=True)
class Table:
    name: str
    kind: str
    columns: Mapping[str, str]
    key: str | None = None
    id: str | None = None
    time: str | None = None
    refs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"tables.{self.name}"
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        object.__setattr__(self, "refs", MappingProxyType(dict(self.refs)))
        if self.kind not in KINDS:
            raise FeatureConfigError(f"{where}.kind: must be one of {KINDS}; got {self.kind!r}")
        for col, dtype in self.columns.items():
            if dtype not in COLUMN_DTYPES:
                raise FeatureConfigError(f"{where}.columns.{col}: dtype must be one of {COLUMN_DTYPES}; got {dtype!r}")
        needs = {"entity": ("key",), "stream": ("id", "time"), "snapshot": ("key", "time")}[self.kind]
        for attr in ("key", "id", "time"):
            value = getattr(self, attr)
            if attr in needs and value is None:
                raise FeatureConfigError(f"{where}.{attr}: required for a {self.kind} table")
            if attr not in needs and value is not None:
                raise FeatureConfigError(f"{where}.{attr}: not allowed for a {self.kind} table")
            if value is not None and value not in self.columns:
                raise FeatureConfigError(f"{where}.{attr}: names column {value!r}, which is not in its columns "
                                         f"{sorted(self.columns)}")
        if self.time is not None and self.columns[self.time] != "timestamp":
            raise FeatureConfigError(f"{where}.time: column {self.time!r} must have dtype 'timestamp'; "
                                     f"got {self.columns[self.time]!r}")
        for col in self.refs:
            if col not in self.columns:
                raise FeatureConfigError(f"{where}.refs.{col}: not a column of the table; columns are "
                                         f"{sorted(self.columns)}")

    @property
    def is_timed(self) -> bool:
        return self.kind in ("stream", "snapshot")


@dataclass(frozen=True)
class EventTables:
    """Every raw table of a dataset, with the ref graph between them checked."""

    tables: Mapping[str, Table]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))
        for t in self.tables.values():
            for col, to in t.refs.items():
                where = f"tables.{t.name}.refs.{col}"
                target = self.tables.get(to)
                if target is None or target.kind != "entity":
                    raise FeatureConfigError(f"{where}: must name an entity table; got {to!r}")
                if t.columns[col] != target.columns[target.key]:
                    raise FeatureConfigError(f"{where}: dtype {t.columns[col]!r} differs from {to}.{target.key} "
                                             f"({target.columns[target.key]!r})")

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def path(self, start: str, to: str) -> tuple[Hop, ...]:
        """The shortest chain of refs from table `start` to entity `to`; () when start is `to`.

        Two different shortest chains are ambiguous and refused, so a declaration never depends on
        which one the engine happens to pick.
        """
        if start == to:
            return ()
        frontier: deque[tuple[str, tuple[Hop, ...]]] = deque([(start, ())])
        best: list[tuple[Hop, ...]] = []
        seen = {start}
        while frontier and not best:
            level, frontier = list(frontier), deque()
            reached: set[str] = set()
            for table, hops in level:
                for col, nxt in sorted(self.tables[table].refs.items()):
                    chain = hops + (Hop(table, col, nxt),)
                    if nxt == to:
                        best.append(chain)
                    elif nxt not in seen:
                        frontier.append((nxt, chain))
                        reached.add(nxt)
            seen |= reached
        if not best:
            raise LookupError(f"no chain of refs leads from {start!r} to {to!r}")
        if len(best) > 1:
            shown = [" -> ".join(f"{h.table}.{h.column}" for h in chain) for chain in best]
            raise LookupError(f"more than one shortest chain of refs leads from {start!r} to {to!r}: {shown}")
        return best[0]


def tables_from_dict(data: Mapping[str, Any]) -> EventTables:
    unknown = set(data) - {"tables"}
    if unknown:
        raise FeatureConfigError(f"events: unknown top-level keys {sorted(unknown)}")
    raw_tables = data.get("tables")
    if not isinstance(raw_tables, Mapping) or not raw_tables:
        raise FeatureConfigError("events.tables: declare at least one table")
    tables = {}
    for name, raw in raw_tables.items():
        extra = set(raw) - _TABLE_KEYS
        if extra:
            raise FeatureConfigError(f"tables.{name}: unknown keys {sorted(extra)}; allowed {sorted(_TABLE_KEYS)}")
        if "kind" not in raw or "columns" not in raw:
            raise FeatureConfigError(f"tables.{name}: 'kind' and 'columns' are required")
        tables[name] = Table(name=name, kind=raw["kind"], columns=raw["columns"], key=raw.get("key"),
                             id=raw.get("id"), time=raw.get("time"), refs=raw.get("refs", {}))
    return EventTables(tables)


def load_tables(path: str | Path) -> EventTables:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"events declaration not found: {p}")
    return tables_from_dict(tomllib.loads(p.read_text()))
