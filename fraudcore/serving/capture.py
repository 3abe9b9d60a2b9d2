"""Data capture: sampled requests and responses plus every failure, as JSON lines, off the hot path.

The request handler serialises the record (orjson, a few microseconds) and appends the line to a
bounded deque: no lock, no wake-up, never blocks (when the deque is full the record is dropped and
counted). A daemon thread wakes every `flush_seconds`, takes what is queued and appends it to
`capture/<YYYY-MM-DD>/<HH>/<worker>-<n>.jsonl` under a local folder, or writes each chunk as a new
object under an S3 prefix (S3 has no append). The record format is docs/contracts.md's.

Why not a queue.Queue the thread blocks on: that woke the thread at every record, and every wake-up
made the event loop hand over the GIL and wait to get it back. With capture on for every request it
added 0.1-0.5 ms to each request at 1000/s (docs/serving.md, "The checkout form's latency").
"""
from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson


def _dumps(rec: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # e.g. an integer beyond 64 bits in a client's extra field
        return json.dumps(rec, default=str, allow_nan=True).encode()


def utc_now_iso() -> str:
    """The capture timestamp format: ISO 8601 UTC with milliseconds and a Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def worker_name() -> str:
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


class LocalSink:
    """Appends chunks to files under `root/capture/...`, starting a new file every `max_records`."""

    def __init__(self, root: str | Path, worker: str, max_records: int = 50_000) -> None:
        self.root = Path(root)
        self.worker = worker
        self.max_records = max_records
        self._hour: str | None = None
        self._n = 0
        self._count = 0

    def _path(self, hour: str) -> Path:
        if hour != self._hour or self._count >= self.max_records:
            self._n = self._n + 1 if hour == self._hour else 0
            self._hour, self._count = hour, 0
        day, hh = hour.split("/")
        return self.root / "capture" / day / hh / f"{self.worker}-{self._n}.jsonl"

    def write(self, hour: str, lines: list[bytes]) -> str:
        path = self._path(hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        # writelines copies line by line into the file's buffer and writes every 256 KiB: no one copy of
        # the whole chunk (megabytes at 1000/s) that would hold the GIL while the event loop waits
        with open(path, "ab", buffering=1 << 18) as fh:
            fh.writelines(lines)
        self._count += len(lines)
        return str(path)


class S3Sink:
    """Writes each chunk as `prefix/capture/<day>/<HH>/<worker>-<n>.jsonl` (n counts chunks)."""

    def __init__(self, uri: str, worker: str, client: Any = None) -> None:
        if not uri.startswith("s3://"):
            raise ValueError(f"capture destination must be a local folder or s3://bucket/prefix; got {uri!r}")
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"capture destination {uri!r} names no bucket")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.worker = worker
        self._n = 0
        if client is None:
            import boto3  # only when capturing to S3

            client = boto3.client("s3")
        self.client = client

    def write(self, hour: str, lines: list[bytes]) -> str:
        key = "/".join(p for p in (self.prefix, "capture", hour, f"{self.worker}-{self._n}.jsonl") if p)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=b"".join(lines), ContentType="application/jsonl")
        self._n += 1
        return f"s3://{self.bucket}/{key}"


def make_sink(dest: str, worker: str) -> LocalSink | S3Sink:
    return S3Sink(dest, worker) if dest.startswith("s3://") else LocalSink(dest, worker)


@dataclass(frozen=True)
class CaptureBuffer:
    """How records travel from the request path to the sink: at most `max_queue` wait (more are dropped
    and counted), and the writer thread flushes every `flush_seconds` in chunks of at most `max_chunk`."""

    max_queue: int = 100_000
    flush_seconds: float = 1.0
    max_chunk: int = 5_000

    def __post_init__(self) -> None:
        for name in ("max_queue", "max_chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"capture buffer {name!r} must be an integer >= 1; got {value!r}")
        if isinstance(self.flush_seconds, bool) or not isinstance(self.flush_seconds, (int, float)) \
                or not self.flush_seconds > 0:
            raise ValueError(f"capture buffer 'flush_seconds' must be a number > 0; got {self.flush_seconds!r}")


class CaptureWriter:
    """Non-blocking capture: `offer` from the request path, a background thread does the I/O."""

    def __init__(self, sink: LocalSink | S3Sink, sample_rate: float, buffer: CaptureBuffer = CaptureBuffer(),
                 seed: int | None = None, on_error: Callable[[Exception], None] | None = None) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"capture sample rate must be in [0, 1]; got {sample_rate!r}")
        self.sink = sink
        self.sample_rate = sample_rate
        self.flush_seconds = buffer.flush_seconds
        self.max_chunk = buffer.max_chunk
        self.max_queue = buffer.max_queue
        self.dropped = 0
        self.written = 0
        self.write_errors = 0
        self._rng = random.Random(seed)
        self._pending: deque[tuple[str, bytes]] = deque()   # (hour, line); append/popleft are atomic
        self._stop = threading.Event()
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether the next successful request is captured (failures always are)."""
        return self.sample_rate >= 1.0 or (self.sample_rate > 0.0 and self._rng.random() < self.sample_rate)

    def offer(self, record: dict[str, Any]) -> bool:
        if len(self._pending) >= self.max_queue or self._stop.is_set():
            self.dropped += 1
            return False
        t = str(record.get("time", ""))
        hour = f"{t[:10]}/{t[11:13]}" if len(t) >= 13 else "unknown/00"
        self._pending.append((hour, _dumps(record) + b"\n"))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.flush_seconds)
            self._drain()
            if stopping:
                return

    def _drain(self) -> None:
        pending = self._pending
        while pending:
            batch = [pending.popleft() for _ in range(min(len(pending), self.max_chunk))]
            self._write(batch)

    def _write(self, batch: list[tuple[str, bytes]]) -> None:
        by_hour: dict[str, list[bytes]] = {}
        for hour, line in batch:
            by_hour.setdefault(hour, []).append(line)
        for hour, lines in by_hour.items():
            try:
                self.sink.write(hour, lines)
                self.written += len(lines)
            except Exception as err:  # noqa: BLE001 - capture must never take the service down
                self.write_errors += 1
                if self._on_error is not None:
                    self._on_error(err)
