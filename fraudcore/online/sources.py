"""Event sources' interface (issue 15 contract): what ingestion reads.

Minimal version written for the Kinesis source to build against; the lead's sources.py (with the JSONL file
and socket sources) replaces it at merge and keeps these names and meanings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol


@dataclass(frozen=True)
class Event:
    stream: str            # a stream or snapshot or entity table of events.toml
    record: dict[str, Any]  # the row, JSON types; timestamps as ISO-8601 strings or epoch ns ints
    position: str          # source position (file line, Kinesis sequence number) for checkpoints


class EventSource(Protocol):
    def batches(self, max_records: int) -> Iterator[list[Event]]: ...

    def checkpoint(self, position: str) -> None: ...
