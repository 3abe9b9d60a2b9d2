"""Events through a Kinesis stream on the emulator: written, read back in order per shard, resumed from checkpoints."""
from __future__ import annotations

import re
import threading
from typing import Iterator

import pytest

from aws.iam_audit import ROLE_KEYS, harness_session
from fraudcore.online.dynamo import DynamoStore, create_table
from fraudcore.online.kinesis import KinesisSource, checkpoint_key, put_events
from fraudcore.online.sources import BadLine, Event

STREAM = "paylink-fraud-events"
TABLE = "paylink-fraud-online"


@pytest.fixture
def kinesis(aws_emulator, monkeypatch) -> Iterator[tuple[object, DynamoStore]]:
    """The table and stream made by the harness, whose Kinesis client also plays the producers and checks; the
    source and the store sign as the ingest role."""
    aws_emulator.reset()
    create_table(harness_session().client("dynamodb"), TABLE)
    client = harness_session().client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=3)
    client.get_waiter("stream_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ROLE_KEYS["ingest"])
    store = DynamoStore(TABLE, timeout_s=5.0)
    yield client, store
    store.close()


def _events(start: int, stop: int) -> list[Event]:
    return [Event("authorisations", {"transaction_id": f"t{i:04d}", "amount": i * 1.5, "ts": 1_700_000_000 + i}, "")
            for i in range(start, stop)]


def _tid(event: Event) -> str:
    return str(event.record["transaction_id"])


def _read(source: KinesisSource, max_records: int, stop_after: int | None = None) -> list[list[Event]]:
    """Read batches, checkpointing each one as it would be applied; stop after `stop_after` batches."""
    batches = []
    for batch in source.batches(max_records):
        batches.append(batch)
        source.checkpoint(batch[-1].position)
        if stop_after is not None and len(batches) == stop_after:
            break
    return batches


def test_events_are_read_back_once_each_in_order_per_shard(kinesis):
    client, store = kinesis
    sent = _events(0, 90)
    assert put_events(STREAM, sent, _tid, client=client) == 90
    batches = _read(KinesisSource(STREAM, store), max_records=7)
    got = [e for b in batches for e in b]
    assert sorted(_tid(e) for e in got) == [_tid(e) for e in sent]
    assert {e.record["amount"] for e in got} == {e.record["amount"] for e in sent} and {e.stream for e in got} == {
        "authorisations"}
    by_shard: dict[str, list[str]] = {}
    for batch in batches:
        shards = {e.position.split("/")[0] for e in batch}
        assert len(shards) == 1 and len(batch) <= 7      # a batch is one shard's, up to max_records
        by_shard.setdefault(shards.pop(), []).extend(_tid(e) for e in batch)
    assert len(by_shard) > 1
    for tids in by_shard.values():                       # each shard in the order the events were put
        assert tids == sorted(tids)


def test_a_resumed_source_reads_nothing_twice(kinesis):
    client, store = kinesis
    put_events(STREAM, _events(0, 60), _tid, client=client)
    first = [e for b in _read(KinesisSource(STREAM, store), max_records=5, stop_after=4) for e in b]
    assert 0 < len(first) < 60
    shards = client.list_shards(StreamName=STREAM)["Shards"]
    saved = store.get_many([checkpoint_key(STREAM, s["ShardId"]) for s in shards])
    assert saved, "checkpoints are kept in the store"
    put_events(STREAM, _events(60, 80), _tid, client=client)
    second = [e for b in _read(KinesisSource(STREAM, store), max_records=5) for e in b]
    read = [_tid(e) for e in first + second]
    assert sorted(read) == [f"t{i:04d}" for i in range(80)]     # all of them, none twice
    assert [e for b in _read(KinesisSource(STREAM, store), max_records=5) for e in b] == []


def test_a_record_that_is_not_an_event_comes_back_as_a_bad_line(kinesis):
    client, store = kinesis
    client.put_record(StreamName=STREAM, Data=b'{"record": {}}', PartitionKey="x")
    (batch,) = _read(KinesisSource(STREAM, store), max_records=5)
    (bad,) = batch
    assert isinstance(bad, BadLine) and "stream" in bad.reason
    assert re.fullmatch(r"shardId-\d+/\d+", bad.position)


def test_a_resharded_stream_is_read_once_each(kinesis):
    """moto closes the parents and lists children with ParentShardId, but keeps routing records to the
    parents, so the parent-before-child order itself is not exercised here; no event is lost or doubled."""
    client, store = kinesis
    put_events(STREAM, _events(0, 30), _tid, client=client)
    client.update_shard_count(StreamName=STREAM, TargetShardCount=6, ScalingType="UNIFORM_SCALING")
    put_events(STREAM, _events(30, 60), _tid, client=client)
    shards = client.list_shards(StreamName=STREAM)["Shards"]
    assert any(s.get("ParentShardId") for s in shards), "the emulator resharded"
    batches = _read(KinesisSource(STREAM, store), max_records=4)
    assert sorted(_tid(e) for b in batches for e in b) == [f"t{i:04d}" for i in range(60)]


def _next_within(batches: Iterator[list], seconds: float) -> list:
    """The next batch, or a failure (not a hang) if the source keeps polling without handing back control."""
    got: list = []
    reader = threading.Thread(target=lambda: got.append(next(batches)), daemon=True)
    reader.start()
    reader.join(seconds)
    assert got, f"no batch within {seconds} s: a followed source must yield [] when caught up"
    return got[0]


def test_a_followed_stream_yields_an_empty_batch_once_caught_up(kinesis):
    """The ingest service reports its lag on every heartbeat: a followed source hands back control (an empty
    batch) when caught up, instead of polling silently, and reads what is put after that."""
    client, store = kinesis
    put_events(STREAM, _events(0, 10), _tid, client=client)
    batches = KinesisSource(STREAM, store, follow=True, poll_interval_s=0.05).batches(100)
    read: list[Event] = []
    batch = _next_within(batches, 30)
    while batch:
        read += batch
        batch = _next_within(batches, 30)
    assert sorted(_tid(e) for e in read) == [_tid(e) for e in _events(0, 10)]
    put_events(STREAM, _events(10, 12), _tid, client=client)
    later: list[Event] = []
    for _ in range(50):                                   # heartbeats until the new events come
        later += _next_within(batches, 30)
        if len(later) == 2:
            break
    batches.close()
    assert sorted(_tid(e) for e in later) == ["t0010", "t0011"]
