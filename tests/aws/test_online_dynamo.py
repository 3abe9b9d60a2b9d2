"""The DynamoDB online store through real boto3 calls: against the emulator, a stopped port and a slow server."""
from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from typing import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from aws.iam_audit import ROLE_KEYS, harness_session
from fraudcore.online.errors import OnlineConfigError
from fraudcore.online.dynamo import DynamoOptions, DynamoStore, create_table
from fraudcore.online.store import Item, Put, StoreConflict, StoreItemTooLarge, StoreUnavailable

TABLE = "paylink-fraud-online"
SLACK_S = 0.25   # Python, thread and socket overhead on a busy 2-core machine


@pytest.fixture
def store(aws_emulator, monkeypatch) -> Iterator[DynamoStore]:
    """The table made by the harness (the stack makes it); the store signs as the ingest role (reads and writes)."""
    aws_emulator.reset()
    create_table(harness_session().client("dynamodb"), TABLE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ROLE_KEYS["ingest"])
    s = DynamoStore(TABLE, timeout_s=5.0)
    yield s
    s.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_round_trip_and_versions(store):
    store.put_many([Put("a|auth|customer|c1|24h", b"\x01state", 0, 0), Put("e|customers|c1", b"{}", 0, 0)])
    assert store.get_many(["a|auth|customer|c1|24h", "e|customers|c1", "e|customers|absent"]) == {
        "a|auth|customer|c1|24h": Item(b"\x01state", 1), "e|customers|c1": Item(b"{}", 1)}
    store.put_many([Put("e|customers|c1", b'{"x": 2}', 0, 1)])
    assert store.get_many(["e|customers|c1"]) == {"e|customers|c1": Item(b'{"x": 2}', 2)}
    assert store.get_many([]) == {}
    assert store.name == "dynamodb"


def test_compare_and_set_conflict_names_the_stale_keys_and_writes_the_others(store):
    store.put_many([Put("k1", b"one", 0, 0), Put("k2", b"two", 0, 0)])
    with pytest.raises(StoreConflict) as caught:
        store.put_many([Put("k1", b"stale", 0, 0),      # k1 exists: expected absent
                        Put("k2", b"stale", 0, 7),      # k2 is at version 1, not 7
                        Put("k3", b"three", 0, 0)])     # new: written
    assert sorted(caught.value.keys) == ["k1", "k2"]
    assert "k1" in str(caught.value) and "k3" not in str(caught.value)
    assert store.get_many(["k1", "k2", "k3"]) == {"k1": Item(b"one", 1), "k2": Item(b"two", 1), "k3": Item(b"three", 1)}


def test_expiry_is_the_tables_ttl_attribute(store):
    store.put_many([Put("s|bin_risk|411111", b"x", 1_900_000_000, 0), Put("m|watermark", b"y", 0, 0)])
    raw = harness_session().client("dynamodb")
    item = raw.get_item(TableName=TABLE, Key={"k": {"S": "s|bin_risk|411111"}})["Item"]
    assert item["ttl"] == {"N": "1900000000"} and item["ver"] == {"N": "1"}
    assert "ttl" not in raw.get_item(TableName=TABLE, Key={"k": {"S": "m|watermark"}})["Item"]
    ttl = raw.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_more_than_a_batch_of_keys(store):
    puts = [Put(f"a|auth|customer|c{i}|90d", i.to_bytes(2, "big") * 1000, 0, 0) for i in range(230)]
    store.put_many(puts)
    wanted = [p.key for p in puts] + [f"absent{i}" for i in range(20)] + [puts[0].key]
    got = store.get_many(wanted)
    assert got == {p.key: Item(p.value, 1) for p in puts}


def test_unprocessed_keys_are_read_again_within_the_budget():
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          config=Config(connect_timeout=0.5, read_timeout=0.5))
    store = DynamoStore(TABLE, timeout_s=1.0, client=client)
    keys = {"Keys": [{"k": {"S": "b"}}], "ConsistentRead": True, "ProjectionExpression": "k, v, ver"}
    with Stubber(client) as stub:
        stub.add_response("batch_get_item",
                          {"Responses": {TABLE: [{"k": {"S": "a"}, "v": {"B": b"1"}, "ver": {"N": "3"}}]},
                           "UnprocessedKeys": {TABLE: keys}})
        stub.add_response("batch_get_item",
                          {"Responses": {TABLE: [{"k": {"S": "b"}, "v": {"B": b"2"}, "ver": {"N": "1"}}]}},
                          expected_params={"RequestItems": {TABLE: keys}})
        assert store.get_many(["a", "b"]) == {"a": Item(b"1", 3), "b": Item(b"2", 1)}
        stub.assert_no_pending_responses()


def test_settings_that_could_outlive_the_budget_are_refused():
    client = boto3.client("dynamodb", region_name="us-east-1")   # botocore's default: 60 s
    with pytest.raises(OnlineConfigError, match="read_timeout|connect_timeout"):
        DynamoStore(TABLE, timeout_s=0.1, client=client)
    with pytest.raises(OnlineConfigError, match="timeout_s must be > 0"):
        DynamoStore(TABLE, timeout_s=0)
    with pytest.raises(OnlineConfigError, match="attempts and write_threads must be >= 1; got 0, 8"):
        DynamoOptions(attempts=0)


def _assert_unavailable_within(store: DynamoStore, budget: float) -> None:
    for call in (lambda: store.get_many(["k1", "k2"]), lambda: store.put_many([Put("k1", b"v", 0, 0)])):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="did not answer .* within its budget of"):
            call()
        assert time.monotonic() - started < budget + SLACK_S


def test_a_stopped_store_is_unavailable_within_the_budget(aws_emulator):
    store = DynamoStore(TABLE, timeout_s=0.3, endpoint_url=f"http://127.0.0.1:{_free_port()}")
    _assert_unavailable_within(store, 0.3)
    store.close()


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        time.sleep(3)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_store_is_unavailable_within_the_budget(aws_emulator):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = DynamoStore(TABLE, timeout_s=0.3, endpoint_url=f"http://127.0.0.1:{server.server_address[1]}")
        _assert_unavailable_within(store, 0.3)
        store.close()
    finally:
        server.shutdown()
        server.server_close()


class _Proxy:
    """A loopback TCP proxy in front of the emulator that can be stopped and started again on its port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream, self.port, self.socks = upstream_port, _free_port(), []

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept (close alone does not)
        self.listener.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.socks = []


def test_a_store_that_stops_and_restarts_answers_again(store, aws_emulator):
    store.put_many([Put("k1", b"v", 0, 0)])
    proxy = _Proxy(aws_emulator.port)
    proxy.start()
    through = DynamoStore(TABLE, timeout_s=0.3, endpoint_url=f"http://127.0.0.1:{proxy.port}")
    try:
        assert through.get_many(["k1"]) == {"k1": Item(b"v", 1)}   # a pooled connection is open now
        proxy.stop()
        _assert_unavailable_within(through, 0.3)
        proxy.start()
        assert through.get_many(["k1"]) == {"k1": Item(b"v", 1)}
        through.put_many([Put("k1", b"w", 0, 1)])
        assert store.get_many(["k1"]) == {"k1": Item(b"w", 2)}
    finally:
        through.close()
        proxy.stop()


def test_an_item_past_dynamodbs_limit_is_refused_by_name_before_anything_is_written(store):
    with pytest.raises(StoreItemTooLarge) as caught:
        store.put_many([Put("e|customers|small", b"{}", 0, 0), Put("a|auth|merchant|m1", b"x" * 410_000, 0, 0)])
    assert caught.value.key == "a|auth|merchant|m1" and caught.value.size > caught.value.limit == 400 * 1024
    assert "a|auth|merchant|m1" in str(caught.value) and f"{caught.value.size:,} bytes" in str(caught.value)
    assert store.get_many(["e|customers|small", "a|auth|merchant|m1"]) == {}     # nothing of the call landed
    store.put_many([Put("a|auth|merchant|m1", b"x" * 400_000, 0, 0)])         # under the limit: written
    assert store.get_many(["a|auth|merchant|m1"])["a|auth|merchant|m1"].version == 1
