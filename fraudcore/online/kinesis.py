"""Events from a Kinesis data stream (issue 15 contract), and a writer for tests and the replay benchmark.

A record's data is one JSON object `{"stream": ..., "record": {...}}`; its partition key is the event id.

Reading: every shard of the stream, round robin. A shard starts at its checkpoint (AFTER_SEQUENCE_NUMBER)
or, with none, at TRIM_HORIZON. Each batch holds records of one shard, in that shard's order, so
`checkpoint(batch[-1].position)` covers the whole batch. A record that is not an event comes back as a
`BadLine` with its reason and position, as the file source does. A child shard (after a reshard) is read only
once its parents are read to their end, which keeps per-key order across a reshard.

Checkpoints live in the online store itself, one item per shard under `m|kinesis|<stream>|<shard>`
(value: the sequence number). So they survive the ingest host, need no local disk, and on AWS need no
permission beyond the table's (the ingest role's Get/Put). A position is `<shard id>/<sequence number>`.

`follow=False` ends when every open shard is caught up (an empty read with MillisBehindLatest 0);
`follow=True` keeps polling, `poll_interval_s` apart when there is nothing new (GetRecords allows five
calls a second per shard), and yields an empty batch each time it is caught up, so that a service following
a quiet stream still reports its lag on time (the ingest service's lag alarm treats silence as breaching).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import orjson

from fraudcore.errors import FraudError
from fraudcore.online.errors import OnlineConfigError
from fraudcore.online.sources import BadLine, Event, parse_line
from fraudcore.online.store import Put, Store

PUT_RECORDS_LIMIT = 500        # Kinesis PutRecords takes at most 500 records a call
GET_RECORDS_LIMIT = 10_000     # and GetRecords returns at most 10 000
MIN_GET_RECORDS_INTERVAL_S = 0.2   # five GetRecords calls a second per shard


def checkpoint_key(stream_name: str, shard_id: str) -> str:
    return f"m|kinesis|{stream_name}|{shard_id}"


def _client(client: Any, endpoint_url: str | None) -> Any:
    """`client` as is, or one for AWS_REGION (or AWS_DEFAULT_REGION) and `endpoint_url` (default: boto3's)."""
    if client is not None:
        return client
    import boto3
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise OnlineConfigError("Kinesis needs a region: set AWS_REGION (or pass a client); got none")
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.session.Session().client("kinesis", region_name=region, endpoint_url=endpoint_url, config=config)


@dataclass
class _Shard:
    shard_id: str
    parents: tuple[str, ...]
    iterator: str | None = None
    last_sequence: str | None = None
    finished: bool = False
    next_call_at: float = 0.0


class KinesisSource:
    """The EventSource protocol on one Kinesis data stream, with checkpoints kept in `store` (the online store)."""

    def __init__(self, stream_name: str, store: Store, *, client: Any = None, endpoint_url: str | None = None,
                 follow: bool = False, poll_interval_s: float = 1.0) -> None:
        if not stream_name:
            raise OnlineConfigError(f"KinesisSource stream_name must be a stream name; got {stream_name!r}")
        if not poll_interval_s > 0:
            raise OnlineConfigError(f"KinesisSource poll_interval_s must be > 0; got {poll_interval_s!r}")
        self.stream_name, self.store, self.follow = stream_name, store, follow
        self.poll_interval_s = poll_interval_s
        self.client = _client(client, endpoint_url)
        self._shards: dict[str, _Shard] = {}
        self._versions: dict[str, int] = {}     # checkpoint item versions, for compare-and-set

    # -- shards ---------------------------------------------------------------------------------------------
    def _discover(self) -> None:
        """Add shards not seen yet (all of them the first time, children after a reshard)."""
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        listed: list[dict[str, Any]] = []
        while True:
            reply = self.client.list_shards(**kwargs)
            listed += reply["Shards"]
            if not reply.get("NextToken"):
                break
            kwargs = {"NextToken": reply["NextToken"]}
        new = [s for s in listed if s["ShardId"] not in self._shards]
        saved = self.store.get_many([checkpoint_key(self.stream_name, s["ShardId"]) for s in new])
        for s in new:
            parents = tuple(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p)
            shard = _Shard(s["ShardId"], parents)
            item = saved.get(checkpoint_key(self.stream_name, shard.shard_id))
            if item is not None:
                shard.last_sequence = item.value.decode()
                self._versions[shard.shard_id] = item.version
            self._shards[shard.shard_id] = shard

    def _ready(self, shard: _Shard) -> bool:
        return not shard.finished and all(p not in self._shards or self._shards[p].finished for p in shard.parents)

    def _iterator(self, shard: _Shard) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard.shard_id}
        if shard.last_sequence is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=shard.last_sequence)
        return str(self.client.get_shard_iterator(**kwargs)["ShardIterator"])

    # -- reading --------------------------------------------------------------------------------------------
    def batches(self, max_records: int) -> Iterator[list[Event | BadLine]]:
        from botocore.exceptions import ClientError

        if not 1 <= max_records <= GET_RECORDS_LIMIT:
            raise OnlineConfigError(f"max_records must be in [1, {GET_RECORDS_LIMIT}] (GetRecords' limit); "
                                    f"got {max_records}")
        self._discover()
        while True:
            caught_up, closed_one = True, False
            for shard in [s for s in self._shards.values() if self._ready(s)]:
                if shard.iterator is None:
                    shard.iterator = self._iterator(shard)
                wait = shard.next_call_at - time.monotonic()
                if wait > 0:    # GetRecords allows five calls a second per shard
                    time.sleep(wait)
                shard.next_call_at = time.monotonic() + MIN_GET_RECORDS_INTERVAL_S
                try:
                    reply = self.client.get_records(ShardIterator=shard.iterator, Limit=max_records)
                except ClientError as err:
                    if err.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                        raise
                    shard.iterator = None   # iterators expire after 5 minutes: resume from the last record
                    caught_up = False
                    continue
                records = reply.get("Records", [])
                shard.iterator = reply.get("NextShardIterator")
                if records:
                    shard.last_sequence = records[-1]["SequenceNumber"]
                    caught_up = False
                    yield [parse_line(r["Data"], f"{shard.shard_id}/{r['SequenceNumber']}") for r in records]
                elif reply.get("MillisBehindLatest", 0) > 0:
                    caught_up = False
                if shard.iterator is None:      # a closed shard read to its end
                    shard.finished, closed_one = True, True
            if closed_one:
                self._discover()
                continue
            if not any(not s.finished for s in self._shards.values()):
                return
            if caught_up:
                if not self.follow:
                    return
                yield []        # caught up: lets the caller report (lag, a heartbeat) on a quiet stream
                time.sleep(self.poll_interval_s)
                self._discover()

    def checkpoint(self, position: str) -> None:
        shard_id, sep, sequence = position.partition("/")
        if not sep or shard_id not in self._shards or not sequence.isdigit():
            raise OnlineConfigError(f"checkpoint position must be '<shard id>/<sequence number>' of stream "
                                    f"{self.stream_name!r}; got {position!r}")
        version = self._versions.get(shard_id, 0)
        self.store.put_many([Put(checkpoint_key(self.stream_name, shard_id), sequence.encode(), 0, version)])
        self._versions[shard_id] = version + 1


def put_events(stream_name: str, events: Iterable[Event], event_id: Callable[[Event], str], *, client: Any = None,
               endpoint_url: str | None = None, max_attempts: int = 5) -> int:
    """Write events to the stream with PutRecords (partition key = `event_id(event)`); the number written.

    Records Kinesis refuses (throttling) are sent again, up to `max_attempts` times; a record sent again
    lands after those sent with it, so order within a shard is the order of acceptance."""
    client = _client(client, endpoint_url)
    written = 0
    chunk: list[dict[str, Any]] = []

    def send(entries: list[dict[str, Any]]) -> int:
        total = len(entries)
        for attempt in range(max_attempts):
            reply = client.put_records(StreamName=stream_name, Records=entries)
            if not reply.get("FailedRecordCount"):
                return total
            failed = [(e, r) for e, r in zip(entries, reply["Records"]) if r.get("ErrorCode")]
            entries = [e for e, _ in failed]
            time.sleep(min(1.0, 0.05 * 2 ** attempt))
        first = failed[0][1]
        raise FraudError(f"Kinesis stream {stream_name!r} refused {len(entries)} record(s) after {max_attempts} "
                         f"attempts; first: {first.get('ErrorCode')}: {first.get('ErrorMessage')}")

    for event in events:
        data = orjson.dumps({"stream": event.stream, "record": event.record})
        chunk.append({"Data": data, "PartitionKey": event_id(event)})
        if len(chunk) == PUT_RECORDS_LIMIT:
            written += send(chunk)
            chunk = []
    if chunk:
        written += send(chunk)
    return written
