"""The champion log on S3 (one object per move), through real boto3 calls against the emulator."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aws.iam_audit import HARNESS_KEY
from fraudcore.registry import RegistryError, champion, lookup
from fraudcore.registry.cli import main
from fraudcore.registry.champion_log import S3EventLog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3_log(aws, monkeypatch) -> str:
    """FRAUD_REGISTRY_LOG on the emulator's artifact bucket; returns the URL."""
    url = f"s3://{aws.cfg.storage.bucket}/metaflow/fraud-registry"
    monkeypatch.setenv(champion.LOG_ENV, url)
    return url


def _use(runs, monkeypatch) -> list[str]:
    root, ids = runs
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(root))
    monkeypatch.setenv("METAFLOW_DEFAULT_METADATA", "local")
    monkeypatch.setenv("METAFLOW_HOME", str(root / "metaflow-home"))
    monkeypatch.delenv("METAFLOW_DEFAULT_DATASTORE", raising=False)
    for rid in ids:  # every test starts with three passed runs and no champion
        lookup.tag_gate(rid, passed=True)
        run = lookup.get_run(rid)
        if lookup.CHAMPION in run.tags:
            run.remove_tag(lookup.CHAMPION)
    return ids


def _event_keys(aws, prefix: str = "metaflow/fraud-registry/events/") -> list[str]:
    listing = aws.clients.s3.list_objects_v2(Bucket=aws.cfg.storage.bucket, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_promote_rollback_and_history_round_trip(aws, s3_log, runs, monkeypatch, capsys):
    a, b, c = _use(runs, monkeypatch)
    assert main(["promote", a, "--reason", "first model", "--user", "ana"]) == 0
    champion.promote(b, "weekly retrain", user="bo")
    assert main(["promote", c, "--reason", "another retrain"]) == 0
    assert main(["rollback", "--reason", "alert rate doubled", "--user", "ana"]) == 0
    assert lookup.champion_run_id() == b
    capsys.readouterr()

    assert _event_keys(aws) == [f"metaflow/fraud-registry/events/{n:09d}.json" for n in (1, 2, 3, 4)]
    assert main(["history", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [(e["event"], e["from"], e["to"], e["user"]) for e in events] == [
        ("promote", None, a, "ana"), ("promote", a, b, "bo"), ("promote", b, c, "paylink-dev"),
        ("rollback", c, b, "ana")]
    assert events[-1]["reason"] == "alert rate doubled"

    champion.rollback("still bad")
    assert lookup.champion_run_id() == a
    assert main(["rollback", "--reason", "again"]) == 1
    assert "no earlier champion to roll back to" in capsys.readouterr().err
    assert champion.champion_stack() == [a]
    assert not (runs[0] / "fraud-registry").exists()  # nothing went to the local file


def test_the_default_log_follows_an_s3_datastore(aws, monkeypatch):
    monkeypatch.delenv(champion.LOG_ENV, raising=False)
    monkeypatch.setenv("METAFLOW_DEFAULT_DATASTORE", "s3")
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_S3", f"s3://{aws.cfg.storage.bucket}/metaflow")
    champion.event_log().append({"event": "promote", "from": None, "to": "1"})
    assert _event_keys(aws, "metaflow/fraud-registry/") == ["metaflow/fraud-registry/events/000000001.json"]
    assert champion.history() == [{"event": "promote", "from": None, "to": "1"}]


def test_concurrent_appends_all_land_in_one_order(aws, s3_log):
    """Four writers append at the same moments: every event lands, each under its own number."""
    writers, rounds = 4, 3
    logs = [S3EventLog.from_url(s3_log) for _ in range(writers)]
    for log in logs:
        assert log.client is not None  # boto3 clients are made here, not in the threads
    barrier, errors = threading.Barrier(writers), []

    def write(w: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait(timeout=30)
                logs[w].append({"event": "promote", "to": f"w{w}-r{r}"})
        except Exception as err:  # reported below: a thread's exception would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert _event_keys(aws) == [f"metaflow/fraud-registry/events/{n:09d}.json" for n in range(1, writers * rounds + 1)]
    written = [e["to"] for e in S3EventLog.from_url(s3_log).read()]
    assert sorted(written) == sorted(f"w{w}-r{r}" for w in range(writers) for r in range(rounds))
    for w in range(writers):  # each writer's own events keep their order
        assert [x for x in written if x.startswith(f"w{w}-")] == [f"w{w}-r{r}" for r in range(rounds)]


@pytest.mark.parametrize("name, body, problem", [
    ("000000002.json", b'{"event": "promote", "to": ', "is not JSON"),
    ("000000002.json", b"\xff\xfe", "is not UTF-8 text"),
    ("000000002.json", b"[1, 2]", "must be a JSON object"),
    ("notes.txt", b"hello", "not an event key")])
def test_a_garbled_event_is_named(aws, s3_log, capsys, name, body, problem):
    champion.event_log().append({"event": "promote", "from": None, "to": "1"})
    key = f"metaflow/fraud-registry/events/{name}"
    aws.clients.s3.put_object(Bucket=aws.cfg.storage.bucket, Key=key, Body=body)
    with pytest.raises(RegistryError, match=f"s3://{aws.cfg.storage.bucket}/{key}.*{problem}"):
        champion.history()
    assert main(["history"]) == 1
    err = capsys.readouterr().err
    assert key in err and problem in err


def test_a_missing_bucket_stops_a_promote_before_the_tag_moves(aws, runs, monkeypatch, capsys):
    a, b, _ = _use(runs, monkeypatch)
    # A misconfigured log location: signed by the harness, as the deployer may not list other buckets at all.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", HARNESS_KEY)
    monkeypatch.setenv(champion.LOG_ENV, "s3://no-such-registry-bucket/fraud-registry")
    assert main(["history"]) == 1
    assert "bucket 'no-such-registry-bucket' does not exist" in capsys.readouterr().err
    assert main(["promote", a, "--reason", "first model"]) == 1
    assert "bucket 'no-such-registry-bucket' does not exist" in capsys.readouterr().err
    assert lookup.champion_run_id() is None


def test_no_credentials_is_a_clear_error_not_a_traceback(aws, s3_log, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k in ("AWS_ENDPOINT_URL",
                                                                                        "AWS_DEFAULT_REGION")}
    empty = tmp_path / "empty"
    empty.write_text("")
    env.update({"AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty),
                "AWS_EC2_METADATA_DISABLED": "true"})
    out = subprocess.run([sys.executable, "-m", "fraudcore.cli", "models", "history"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "no usable AWS credentials" in out.stderr and s3_log in out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture(params=["s3", "local-file"])
def any_log(request, tmp_path, monkeypatch) -> str:
    """The registry log on the emulator's S3, or in a local JSON Lines file."""
    if request.param == "s3":
        return request.getfixturevalue("s3_log")
    path = str(tmp_path / "champion-events.jsonl")
    monkeypatch.setenv(champion.LOG_ENV, path)
    return path


def _agree() -> str | None:
    """The champion as both the tag and the log's top of stack say; the test fails if they differ."""
    stack = champion.champion_stack()
    assert lookup.champion_run_id() == (stack[-1] if stack else None)
    return lookup.champion_run_id()


def test_two_concurrent_promotes_one_wins(any_log, runs, monkeypatch):
    """Both operators read the same log, then record and tag at the same moment: exactly one move stands."""
    a, b, c = _use(runs, monkeypatch)
    champion.promote(a, "first model", user="ana")
    moves = {"bo": champion.plan_promote(b, "weekly retrain", user="bo"),
             "cy": champion.plan_promote(c, "hotfix retrain", user="cy")}
    assert {m.sequence for m in moves.values()} == {2}
    for move in moves.values():
        assert move.log.read()  # S3 clients are made here, not in the threads
    barrier, won, refused = threading.Barrier(2), {}, {}

    def apply(user: str) -> None:
        barrier.wait(timeout=30)
        try:
            won[user] = champion.apply(moves[user])
        except RegistryError as err:
            refused[user] = str(err)

    threads = [threading.Thread(target=apply, args=(u,)) for u in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(won) == 1 and len(refused) == 1, (won, refused)
    (winner, event), (loser, message) = next(iter(won.items())), next(iter(refused.items()))
    assert f"another champion move landed first in the registry log ({any_log}" in message
    assert f"move 2, promote '{a}' -> '{event['to']}' by {winner} at {event['at']}" in message
    assert "Nothing changed" in message and "re-run the command" in message
    assert _agree() == event["to"]
    assert [(e["event"], e["to"], e["user"]) for e in champion.history()] == [
        ("promote", a, "ana"), ("promote", event["to"], winner)]


def test_a_tag_moved_by_hand_is_refused_until_forced(any_log, runs, monkeypatch, capsys):
    a, b, c = _use(runs, monkeypatch)
    champion.promote(a, "first model", user="ana")
    lookup.get_run(b).add_tag(lookup.CHAMPION)  # someone moves the tag with the Metaflow client
    lookup.get_run(a).remove_tag(lookup.CHAMPION)

    expected = (f"the champion tag is on run '{b}' but the registry log ({champion.event_log().location}) says "
                f"the champion is '{a}' (latest move: move 1, promote None -> '{a}' by ana")
    assert main(["promote", c, "--reason", "retrain"]) == 1
    assert expected in capsys.readouterr().err
    with pytest.raises(RegistryError, match=r"rollback refused: the champion tag is on run"):
        champion.rollback("bad alerts")
    # a gate override (what DeployFlow passes) is not a resync
    with pytest.raises(RegistryError, match=f"refused: the champion tag is on run '{b}'"):
        champion.promote(c, "deploy of a failed gate", force=True)
    assert lookup.champion_run_id() == b and len(champion.history()) == 1  # nothing moved, nothing recorded

    assert main(["promote", b, "--reason", "record the hand-moved tag", "--force", "--user", "ana"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert (event["from"], event["to"], event["resynced"]) == (a, b, {"tag": b, "log": a})
    assert _agree() == b
    champion.rollback("back to the first model")
    assert _agree() == a


def test_a_failed_tag_move_is_reverted_in_the_log(any_log, runs, monkeypatch):
    a, b, _ = _use(runs, monkeypatch)
    champion.promote(a, "first model")
    move = champion.plan_promote(b, "retrain", user="bo")
    run_dir = runs[0] / ".metaflow" / lookup.TRAIN_FLOW / b
    hidden = run_dir.with_name(f".{b}-hidden")
    run_dir.rename(hidden)  # the run's metadata disappears between the decision and the tag move
    try:
        with pytest.raises(RegistryError, match=rf"promote to run '{b}' failed while moving the champion "
                                                         rf"tag .*Move 2 is reverted in the log .*back on run '{a}'"):
            champion.apply(move)
    finally:
        hidden.rename(run_dir)
    events = champion.history()
    assert [(e["event"], e.get("reverts"), e["to"]) for e in events] == [("promote", None, a), ("promote", None, b),
                                                                         ("revert", 2, a)]
    assert _agree() == a
    assert champion.promote(b, "retrain, again", user="bo")["seq"] == 4
    assert _agree() == b
    champion.rollback("back")
    assert _agree() == a
