"""The capture writer's buffer settings: checked on construction, and every offered record reaches the sink."""
from __future__ import annotations

import json

import pytest

from fraudcore.serving.capture import CaptureBuffer, CaptureWriter, LocalSink


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("max_queue", 0, "an integer >= 1"), ("max_chunk", 0, "an integer >= 1"), ("max_chunk", 2.5, "an integer >= 1"),
    ("flush_seconds", 0.0, "a number > 0"), ("flush_seconds", -1, "a number > 0"),
])
def test_capture_buffer_names_the_bad_setting(field: str, value: object, rule: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}' must be {rule}; got {value!r}"):
        CaptureBuffer(**{field: value})


def test_records_written_in_small_chunks_all_arrive(tmp_path) -> None:
    writer = CaptureWriter(LocalSink(tmp_path, "w"), 1.0, CaptureBuffer(max_queue=100, flush_seconds=0.01, max_chunk=3))
    records = [{"request_id": f"r{i}", "time": "2026-11-01T05:00:00.000Z", "score": i / 10} for i in range(10)]
    assert all(writer.offer(r) for r in records)
    writer.close()
    lines = [json.loads(line) for f in sorted(tmp_path.rglob("*.jsonl")) for line in f.read_text().splitlines()]
    assert lines == records and writer.written == 10 and writer.dropped == 0
