"""Where ingestion reads events from: a JSONL file (the local default), standard input, or Kinesis
(fraudcore/online/kinesis.py). Each line or record is one JSON object {"stream": TABLE, "record": {...}}.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import orjson


@dataclass(frozen=True)
class Event:
    stream: str            # a stream, snapshot or entity table of events.toml
    record: dict[str, Any]
    position: str          # where it came from (file line, Kinesis sequence number)


@dataclass(frozen=True)
class BadLine:
    """A line that is not an event; kept with its reason by the ingestor."""

    raw: str
    reason: str
    position: str


class EventSource(Protocol):
    def batches(self, max_records: int) -> Iterator[list[Event | BadLine]]: ...

    def checkpoint(self, position: str) -> None: ...


def parse_line(line: bytes | str, position: str) -> Event | BadLine:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        return BadLine(str(line)[:500], f"not valid JSON: {err}", position)
    if not isinstance(doc, dict) or not isinstance(doc.get("stream"), str) or not isinstance(doc.get("record"), dict):
        return BadLine(str(line)[:500], 'must be {"stream": TABLE, "record": {...}}', position)
    return Event(doc["stream"], doc["record"], position)


class FileSource:
    """A JSONL file (or '-' for standard input). With `follow`, waits for lines appended later, as
    `tail -f` does, until `idle_s` passes with nothing new. The checkpoint (the number of lines
    applied) is kept next to the file, so a restart resumes after it; re-applying is harmless anyway,
    ingestion is idempotent by event id."""

    def __init__(self, path: str, follow: bool = False, idle_s: float = 5.0, checkpoint_file: str | None = None,
                 ) -> None:
        self.path = path
        self.follow = follow
        self.idle_s = idle_s
        self.checkpoint_file = Path(checkpoint_file) if checkpoint_file else None
        self.start = 0
        if self.checkpoint_file is not None and self.checkpoint_file.exists():
            self.start = int(self.checkpoint_file.read_text().strip() or 0)

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        if self.path == "-":
            for n, line in enumerate(sys.stdin.buffer, 1):
                yield n, line
            return
        with open(self.path, "rb") as fh:
            n, idle_since, partial = 0, time.monotonic(), b""
            while True:
                line = fh.readline()
                if line and line.endswith(b"\n"):
                    n += 1
                    idle_since = time.monotonic()
                    yield n, partial + line
                    partial = b""
                    continue
                partial += line
                if not self.follow or time.monotonic() - idle_since > self.idle_s:
                    if partial.strip():
                        n += 1
                        yield n, partial
                    return
                time.sleep(0.05)

    def batches(self, max_records: int) -> Iterator[list[Event | BadLine]]:
        batch: list[Event | BadLine] = []
        for n, line in self._lines():
            if n <= self.start or not line.strip():
                continue
            batch.append(parse_line(line, str(n)))
            if len(batch) >= max_records:
                yield batch
                batch = []
        if batch:
            yield batch

    def checkpoint(self, position: str) -> None:
        if self.checkpoint_file is not None:
            tmp = self.checkpoint_file.with_suffix(".tmp")
            tmp.write_text(position)
            tmp.replace(self.checkpoint_file)
