"""The raw event log: where each table's rows come from (in-memory frames or parquet files on disk).

On disk (issue 14 contract): `<root>/<table>.parquet` for an entity table, and
`<root>/<table>/month=YYYY-MM/part-*.parquet` for streams and snapshots. A month directory promises that
its events fall in that month; the loader holds files to that promise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Union

import pandas as pd

from fraudcore.features.errors import EventDataError

_MONTH_DIR = re.compile(r"^month=(\d{4}-\d{2})$")


@dataclass(frozen=True)
class ParquetFile:
    path: str
    month: str | None = None      # 'YYYY-MM' when the file sits in a month=YYYY-MM directory


@dataclass(frozen=True)
class ParquetTable:
    """A table stored as parquet files; read lazily, only the months a partition needs."""

    files: tuple[ParquetFile, ...]

    def months(self) -> list[str]:
        return sorted({f.month for f in self.files if f.month is not None})


Source = Union[pd.DataFrame, ParquetTable]


class EventLog:
    """Every raw table of a dataset by name; values are pandas frames or `ParquetTable`s."""

    def __init__(self, tables: Mapping[str, Source]) -> None:
        for name, source in tables.items():
            if not isinstance(source, (pd.DataFrame, ParquetTable)):
                raise TypeError(f"EventLog table {name!r}: expected a pandas DataFrame or ParquetTable; "
                                f"got {type(source).__name__}")
        self.tables: Mapping[str, Source] = MappingProxyType(dict(tables))

    def __getitem__(self, name: str) -> Source:
        try:
            return self.tables[name]
        except KeyError as err:
            raise EventDataError(f"event log has no table {name!r}; it has {sorted(self.tables)}") from err

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    @classmethod
    def from_dir(cls, root: str | Path) -> EventLog:
        """Find every table under `root` by the on-disk layout; nothing is read yet."""
        base = Path(root)
        if not base.is_dir():
            raise EventDataError(f"event directory {str(base)!r} does not exist")
        tables: dict[str, Source] = {}
        for path in sorted(base.iterdir()):
            if path.is_file() and path.suffix == ".parquet":
                tables[path.stem] = ParquetTable((ParquetFile(str(path)),))
            elif path.is_dir():
                files = []
                for f in sorted(path.rglob("*.parquet")):
                    match = _MONTH_DIR.match(f.parent.name)
                    files.append(ParquetFile(str(f), match.group(1) if match else None))
                if files:
                    tables[path.name] = ParquetTable(tuple(files))
        if not tables:
            raise EventDataError(f"event directory {str(base)!r} holds no <table>.parquet or <table>/ directory")
        return cls(tables)
