"""Exactness: two weeks of events replayed through ingestion and request-time enrichment, in time order,
give the offline engine's features value for value (issue 15's check, small)."""
from __future__ import annotations

import json

import orjson
import pandas as pd
import pytest

from fraudcore.features import EventLog
from fraudcore.online.bulk import load_history
from fraudcore.online.enrich import OnlineFeatures
from fraudcore.online.ingest import Ingestor
from fraudcore.online.replay import compare, read_events, replay
from fraudcore.online.sources import FileSource
from fraudcore.online.store import LmdbStore

LATENESS = 5 * 60 * 10**9


def _window(online_events) -> tuple[int, int]:
    months = json.loads((online_events / "manifest.json").read_text())["months"]
    start = pd.Timestamp(months[-3] + "-01").value
    return start, start + 14 * 86_400 * 10**9


@pytest.fixture(scope="module")
def replayed(online_events, plan, offline, tmp_path_factory):
    start, end = _window(online_events)
    log = EventLog.from_dir(online_events)
    store = LmdbStore(tmp_path_factory.mktemp("replay") / "s.lmdb")
    report = load_history(plan, store, log, start, LATENESS)
    ingestor = Ingestor(plan, store, LATENESS, tmp_path_factory.mktemp("rej") / "r.jsonl")
    events = read_events(plan, log, start, end)
    features = OnlineFeatures(plan, store)
    served = replay(plan, ingestor, events, lambda r: features.compute([r])[0].record)
    t = offline["event_time"].astype("datetime64[ns, UTC]").astype("int64")
    window = offline[(t >= start) & (t < end)].reset_index(drop=True)
    return dict(store=store, report=report, ingestor=ingestor, events=events, served=served, window=window)


def test_every_feature_of_every_request_equals_the_offline_backfill(replayed, plan):
    assert replayed["report"].events > 1000 and replayed["report"].entities > 100
    result = compare(plan, replayed["served"], replayed["window"])
    assert result.requests == len(replayed["window"]) > 300
    assert result.missing_rows == 0
    assert result.values == result.requests * len(plan.fs.schema.feature_names)
    assert result.differences.get("unexplained", 0) == 0, result.examples[:5]
    assert result.identical / result.values >= 0.9999
    counts = [f.name for f in plan.fs.features if getattr(f, "op", None) in ("count", "distinct_count")]
    assert not set(result.by_feature) & set(counts)          # counts identical, always


def test_ingesting_the_same_events_again_changes_nothing(replayed, plan, tmp_path):
    events, store = replayed["events"], replayed["store"]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"stream": e.stream, "record": e.record}) + b"\n" for e in events))
    def everything():
        return [(k, bytes(item.value), item.version) for k, item in store.items()]

    before = everything()
    again = Ingestor(plan, store, LATENESS, tmp_path / "rejects.jsonl")
    for batch in FileSource(str(path)).batches(300):
        again.apply(batch)
    assert again.stats.applied == 0
    # an event still inside some window is recognised by its id; older ones are late (kept in the
    # rejects file with the reason) and could not change a window anyway
    assert again.stats.duplicates + again.stats.late == len(events) and again.stats.duplicates > 1000
    assert everything() == before             # not one value or version changed


def test_an_event_past_the_lateness_is_counted_and_kept_with_its_reason(replayed, plan, tmp_path):
    store, events = replayed["store"], replayed["events"]
    auth = next(e for e in events if e.stream == plan.fs.target)
    old = dict(auth.record, **{plan.id_column: 10**15, plan.time_column: auth.record[plan.time_column]})
    bad = {"stream": plan.fs.target, "record": {plan.time_column: "not a time", plan.id_column: 1}}
    path = tmp_path / "late.jsonl"
    path.write_bytes(orjson.dumps({"stream": plan.fs.target, "record": old}) + b"\n" + orjson.dumps(bad) + b"\n"
                     + b"{not json\n" + orjson.dumps({"stream": "nope", "record": {}}) + b"\n")
    ing = Ingestor(plan, store, LATENESS, tmp_path / "rejects.jsonl")
    for batch in FileSource(str(path)).batches(10):
        ing.apply(batch)
    assert (ing.stats.late, ing.stats.rejected, ing.stats.applied) == (1, 4, 0)
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    rules = sorted(r.get("rule", "json") for r in rejects)
    assert rules == ["json", "late", "timestamp", "unknown_table"]
    bad_time = next(r for r in rejects if r.get("rule") == "timestamp")
    assert bad_time["field"] == f"{plan.fs.target}.{plan.time_column}" and "not a time" in bad_time["reason"]


def test_the_cli_loads_the_store_at_the_end_and_exports_and_ingests_a_day(online_events, tmp_path):
    """`fraud features load --as-of end`, `fraud features events`, `fraud features ingest`, as a user runs them."""
    import subprocess
    import sys

    store = f"lmdb:{tmp_path / 'store.lmdb'}"

    def fraud(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "fraudcore.cli", "features", *args], capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    loaded = fraud("load", "--events", str(online_events), "--store", store, "--as-of", "end")
    assert loaded["entities"] > 100 and loaded["events"] > 1000
    months = json.loads((online_events / "manifest.json").read_text())["months"]
    day = tmp_path / "day.jsonl"
    subprocess.run([sys.executable, "-m", "fraudcore.cli", "features", "events", "--events", str(online_events),
                    "--from", f"{months[-1]}-10", "--to", f"{months[-1]}-11", "--out", str(day)], check=True,
                   capture_output=True)
    n = len(day.read_text().splitlines())
    assert n > 10
    fresh = f"lmdb:{tmp_path / 'fresh.lmdb'}"
    fraud("load", "--events", str(online_events), "--store", fresh, "--as-of", f"{months[-1]}-10")
    first = fraud("ingest", "--from", str(day), "--store", fresh)
    again = fraud("ingest", "--from", str(day), "--store", fresh)
    assert (first["applied"], first["rejected"]) == (n, 0)
    assert again["applied"] == 0 and again["duplicates"] + again["late"] == n
