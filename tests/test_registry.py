"""Registry pieces that need no Metaflow run: where things live, the log, the rollback stack, refusals."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from fraudcore.registry import RegistryError, champion, lookup
from fraudcore.registry.champion_log import LocalEventLog, S3EventLog, SequenceTaken


@pytest.fixture()
def store(tmp_path, monkeypatch):
    (tmp_path / ".metaflow").mkdir()
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path))
    monkeypatch.delenv(champion.LOG_ENV, raising=False)
    monkeypatch.delenv("METAFLOW_DEFAULT_DATASTORE", raising=False)
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "no-metaflow-config"))
    return tmp_path


def test_log_lives_beside_the_datastore(store) -> None:
    assert lookup.datastore_root() == store
    assert champion.log_path() == store / "fraud-registry" / "champion-events.jsonl"


def test_log_path_can_be_set_explicitly(store, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(champion.LOG_ENV, str(tmp_path / "elsewhere.jsonl"))
    assert champion.log_path() == tmp_path / "elsewhere.jsonl"


def test_datastore_is_found_from_a_subdirectory(tmp_path, monkeypatch) -> None:
    (tmp_path / ".metaflow").mkdir()
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.delenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", raising=False)
    monkeypatch.chdir(sub)
    assert lookup.datastore_root() == tmp_path


def test_appended_events_read_back_in_order(store) -> None:
    champion.event_log().append({"event": "promote", "to": "1", "from": None})
    champion.event_log().append({"event": "promote", "to": "2", "from": "1"})
    assert [e["to"] for e in champion.history()] == ["1", "2"]
    lines = champion.log_path().read_text().splitlines()
    assert [json.loads(x)["to"] for x in lines] == ["1", "2"]


def test_a_corrupt_log_line_is_named(store) -> None:
    champion.log_path().parent.mkdir(parents=True)
    champion.log_path().write_text('{"event": "promote", "to": "1"}\nnot json\n')
    with pytest.raises(RegistryError, match="line 2 is not JSON"):
        champion.history()


def test_rollback_pops_the_champion_stack() -> None:
    events = [{"event": "promote", "to": "A"}, {"event": "promote", "to": "B"}, {"event": "promote", "to": "C"},
              {"event": "rollback", "to": "B"}]
    assert champion.champion_stack(events) == ["A", "B"]
    events.append({"event": "rollback", "to": "A"})
    assert champion.champion_stack(events) == ["A"]


@pytest.mark.parametrize("call", [lambda: champion.promote("1", "  "), lambda: champion.rollback("")])
def test_moves_need_a_reason(store, call) -> None:
    with pytest.raises(RegistryError, match="needs a reason"):
        call()


def test_champion_by_name_needs_a_champion(store) -> None:
    with pytest.raises(RegistryError, match="no run is tagged 'champion'"):
        lookup.resolve("champion")
    assert lookup.resolve("12345") == "12345"


def test_gate_is_read_from_tags() -> None:
    assert lookup.gate_of({"gate:passed", "x"}) == "passed"
    assert lookup.gate_of(["gate:failed"]) == "failed"
    assert lookup.gate_of([]) == "unknown"


def test_an_s3_datastore_puts_the_log_beside_it(store, monkeypatch) -> None:
    monkeypatch.setenv("METAFLOW_DEFAULT_DATASTORE", "s3")
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_S3", "s3://paylink-fraud-artifacts/metaflow/")
    assert champion.log_location() == "s3://paylink-fraud-artifacts/metaflow/fraud-registry/"
    log = champion.event_log()
    assert isinstance(log, S3EventLog) and (log.bucket, log.prefix) == ("paylink-fraud-artifacts",
                                                                        "metaflow/fraud-registry")
    assert log.key_of(42) == "metaflow/fraud-registry/events/000000042.json"
    with pytest.raises(RegistryError, match="the registry log is on S3"):
        champion.log_path()
    monkeypatch.setenv(champion.LOG_ENV, str(store / "mine.jsonl"))  # the explicit setting still wins
    assert champion.event_log() == LocalEventLog(store / "mine.jsonl")


def test_an_s3_datastore_without_a_root_is_named(store, monkeypatch) -> None:
    monkeypatch.setenv("METAFLOW_DEFAULT_DATASTORE", "s3")
    monkeypatch.delenv("METAFLOW_DATASTORE_SYSROOT_S3", raising=False)
    with pytest.raises(RegistryError, match="METAFLOW_DATASTORE_SYSROOT_S3 is not set"):
        champion.history()


@pytest.mark.parametrize("url, bucket, prefix, events", [
    ("s3://b1/team/registry/", "b1", "team/registry", "team/registry/events/"),
    ("s3://b1", "b1", "", "events/")])
def test_s3_log_urls(url, bucket, prefix, events) -> None:
    log = S3EventLog.from_url(url)
    assert (log.bucket, log.prefix, log.events_prefix) == (bucket, prefix, events)


def test_an_s3_url_needs_a_bucket() -> None:
    with pytest.raises(RegistryError, match="no bucket given"):
        S3EventLog.from_url("s3:///x")


def test_importing_the_registry_loads_neither_boto3_nor_metaflow() -> None:
    code = ("import sys, fraudcore.registry.lookup, fraudcore.registry.champion, fraudcore.registry.store, "
            "fraudcore.registry.cli; "
            "print(sorted(m for m in ('boto3', 'botocore', 'metaflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_move_records_only_at_the_number_it_read(tmp_path) -> None:
    """Compare-and-set on the local file: two writers who read the same state; the second is refused."""
    log, other = LocalEventLog(tmp_path / "log.jsonl"), LocalEventLog(tmp_path / "log.jsonl")
    log.append({"event": "promote", "from": None, "to": "1"})
    mine, theirs = log.state(), other.state()
    assert mine.next_sequence == theirs.next_sequence == 2
    first = other.append_at({"event": "promote", "from": "1", "to": "2", "user": "bo", "at": "T1",
                             "reason": "retrain"}, theirs.next_sequence)
    assert first["seq"] == 2
    with pytest.raises(SequenceTaken, match=r"move 2 was already recorded.*promote '1' -> '2' by bo at T1") as info:
        log.append_at({"event": "promote", "from": "1", "to": "3"}, mine.next_sequence)
    assert info.value.winner == first
    assert [e["to"] for e in log.read()] == ["1", "2"]  # the loser wrote nothing


def test_concurrent_appends_at_one_number_on_a_local_file(tmp_path) -> None:
    writers, path = 6, tmp_path / "log.jsonl"
    barrier, won, lost = threading.Barrier(writers), [], []

    def write(w: int) -> None:
        log = LocalEventLog(path)
        sequence = log.state().next_sequence
        barrier.wait(timeout=30)
        try:
            won.append(log.append_at({"event": "promote", "to": f"w{w}"}, sequence))
        except SequenceTaken as err:
            lost.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and len(lost) == writers - 1
    assert all(err.winner == won[0] for err in lost)
    assert LocalEventLog(path).read() == won


def test_reverted_moves_are_skipped_and_a_repeat_promote_is_not_pushed_twice() -> None:
    events = [{"event": "promote", "to": "A", "seq": 1}, {"event": "promote", "to": "B", "seq": 2},
              {"event": "revert", "reverts": 2, "from": "B", "to": "A", "seq": None},
              {"event": "promote", "to": "C", "seq": 4}, {"event": "rollback", "to": "A", "seq": 5},
              {"event": "revert", "reverts": 5, "from": "A", "to": "C"}]
    assert champion.champion_stack(events) == ["A", "C"]
    assert champion.champion_stack(events + [{"event": "promote", "to": "C", "seq": 7}]) == ["A", "C"]


def test_an_endpoint_rollback_pops_back_to_its_target_and_old_rollbacks_read_as_before() -> None:
    promotes = [{"event": "promote", "to": r} for r in ("A", "B", "C")]
    # `fraud deploy rollback` records where the endpoint went: back two moves at once, or to a run never champion
    assert champion.champion_stack(promotes + [{"event": "rollback", "via": "endpoint", "to": "A"}]) == ["A"]
    assert champion.champion_stack(promotes + [{"event": "rollback", "via": "endpoint", "to": "Z"}]) == [
        "A", "B", "Z"]
    # a `fraud models rollback` (its target is the run below the top) reads as one pop, as before
    assert champion.champion_stack(promotes + [{"event": "rollback", "to": "B"}]) == ["A", "B"]


def test_staging_has_its_own_log_beside_production(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(champion.LOG_ENV, str(tmp_path / "champion-events.jsonl"))
    assert champion.log_location("staging") == str(tmp_path / "champion-events-staging.jsonl")
    monkeypatch.setenv(champion.LOG_ENV, "s3://bucket/team/fraud-registry/")
    assert champion.log_location("staging") == "s3://bucket/team/fraud-registry/staging/"
    assert champion.log_location() == "s3://bucket/team/fraud-registry/"
    with pytest.raises(RegistryError, match="environment must be one of"):
        champion.log_location("prod")
