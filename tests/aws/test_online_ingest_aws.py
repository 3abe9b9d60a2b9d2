"""`fraud features ingest --kinesis STREAM --store dynamodb:TABLE` on the emulator: events put on Kinesis
leave the DynamoDB table holding exactly what the embedded store holds after the same events, and a second
run of the command (resuming from its checkpoints) changes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from botocore.config import Config

from aws.iam_audit import ROLE_KEYS, harness_session
from fraudcore.features import EventLog, load_feature_set
from fraudcore.online.dynamo import DynamoStore, create_table
from fraudcore.online.ingest import Ingestor
from fraudcore.online.kinesis import put_events
from fraudcore.online.plan import build_plan
from fraudcore.online.replay import read_events
from fraudcore.online.store import LmdbStore
from fraudcore.synth.events import write_events

STREAM, TABLE, EVENTS = "paylink-fraud-events", "paylink-fraud-online", 60
LATENESS = 5 * 60 * 10**9


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    root = tmp_path_factory.mktemp("aws-ingest-events")
    write_events(root, 3000, 11)
    plan = build_plan(load_feature_set())
    start = pd.Timestamp(json.loads((root / "manifest.json").read_text())["months"][-1] + "-01").value
    chosen = read_events(plan, EventLog.from_dir(root), start, start + 3 * 86_400 * 10**9)[:EVENTS]
    assert len(chosen) == EVENTS
    return plan, chosen


def _ingest_cli(tmp_path) -> dict:
    out = subprocess.run([sys.executable, "-m", "fraudcore.cli", "features", "ingest", "--kinesis", STREAM,
                          "--store", f"dynamodb:{TABLE}", "--rejects", str(tmp_path / "rejects.jsonl")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "AWS_ACCESS_KEY_ID": ROLE_KEYS["ingest"]})   # as the ingest role
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ingest_from_kinesis_into_dynamodb_equals_the_embedded_store(aws_emulator, events, tmp_path):
    plan, chosen = events
    aws_emulator.reset()
    create_table(harness_session().client("dynamodb"), TABLE)   # the stack's table and stream; events from producers
    kinesis = harness_session().client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)   # one shard: the file's order is the stream's
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    tables = plan.fs.tables
    assert put_events(STREAM, chosen, lambda e: str(e.record[tables[e.stream].id]) if tables[e.stream].id
                      else e.position, client=kinesis) == EVENTS

    first = _ingest_cli(tmp_path)
    embedded = LmdbStore(tmp_path / "embedded.lmdb")
    stats = Ingestor(plan, embedded, LATENESS).apply(chosen).to_dict()
    assert first["applied"] == stats["applied"] > 0 and first["rejected"] == stats["rejected"] == 0
    assert first["late"] == stats["late"] and first["by_stream"] == stats["by_stream"]
    expected = {k: bytes(item.value) for k, item in embedded.items()}
    embedded.close()
    assert len(expected) > EVENTS // 2

    dynamo = DynamoStore(TABLE, timeout_s=10.0, client=harness_session().client(
        "dynamodb", config=Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 1})))
    try:
        assert {k: item.value for k, item in dynamo.get_many(list(expected)).items()} == expected
        scanned = {i["k"]["S"] for i in harness_session().client("dynamodb")
                   .scan(TableName=TABLE, ProjectionExpression="k")["Items"]}
        assert {k for k in scanned if not k.startswith("m|kinesis|")} == set(expected)
        assert any(k.startswith(f"m|kinesis|{STREAM}|") for k in scanned)

        before = dynamo.get_many(list(expected))
        again = _ingest_cli(tmp_path)                                  # resumes after the checkpoint
        assert dynamo.get_many(list(expected)) == before
    finally:
        dynamo.close()
    assert again["applied"] == again["duplicates"] == 0   # nothing read twice
