"""Exactness and cost of the online path: replay a period of the event log through ingestion and
request-time enrichment in time order, and compare every feature of every request with the offline
backfill (issue 15).

    python benchmarks/online_replay.py --events data/events/rows=2000000-seed=7 --from 2026-10-01 --to 2026-11-01 --save

The store is bulk-loaded as of --from (`fraud features load`), then each authorisation is enriched
from the embedded store (the `OnlineFeatures` the server runs) before it is itself ingested. Prints
JSON: values compared, identical, every difference with its reason, ingest counters, and the time per
request of the enrichment (store reads + computation, in process: the HTTP path is measured by
benchmarks/latency.py) at normal priority; plus the CPU model and its vector extensions.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from machine import machine  # benchmarks/machine.py

from fraudcore.features import EventLog, load_feature_set
from fraudcore.online.bulk import load_history
from fraudcore.online.enrich import OnlineFeatures
from fraudcore.online.ingest import Ingestor
from fraudcore.online.plan import build_plan
from fraudcore.online.replay import compare, offline_features, read_events, replay
from fraudcore.online.store import LmdbStore

ROOT = Path(__file__).resolve().parent.parent
LATENESS = 5 * 60 * 10**9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", default=str(ROOT / "data/events/rows=2000000-seed=7"))
    p.add_argument("--from", dest="start", default="2026-10-01")
    p.add_argument("--to", dest="end", default="2026-11-01")
    p.add_argument("--save", action="store_true", help="write benchmarks/results/online_replay.json")
    args = p.parse_args()
    fs = load_feature_set()
    plan = build_plan(fs)
    log = EventLog.from_dir(args.events)
    start, end = pd.Timestamp(args.start).value, pd.Timestamp(args.end).value
    out: dict = {"events_dir": args.events, "from": args.start, "to": args.end, "machine": machine(),
                 "store": "lmdb (embedded)", "lateness_s": LATENESS / 1e9, "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbStore(os.path.join(tmp, "store.lmdb"))
        t0 = time.perf_counter()
        report = load_history(plan, store, log, start, LATENESS)
        out["bulk_load"] = {**report.to_dict(), "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps({"bulk_load": out["bulk_load"]}), flush=True)
        events = read_events(plan, log, start, end)
        ingestor = Ingestor(plan, store, LATENESS, os.path.join(tmp, "rejects.jsonl"))
        features = OnlineFeatures(plan, store)
        timings: list[float] = []

        def enrich(request):
            t = time.perf_counter()
            rec = features.compute([request])[0].record
            timings.append(time.perf_counter() - t)
            return rec

        t0 = time.perf_counter()
        served = replay(plan, ingestor, events, enrich,
                        progress=lambda i, n: print(f"  replay {i:,}/{n:,} events", flush=True) if i % 50_000 == 0 else None)
        replay_s = time.perf_counter() - t0
        out["ingest"] = {**ingestor.stats.to_dict(), "events": len(events)}
        us = np.array(timings) * 1e6
        out["enrichment_us_per_request"] = {"median": round(float(np.median(us)), 1),
                                            "p95": round(float(np.percentile(us, 95)), 1),
                                            "p99": round(float(np.percentile(us, 99)), 1),
                                            "max": round(float(us.max()), 1), "priority": "normal"}
        out["replay_seconds"] = round(replay_s, 1)
        out["store_items"] = store.count()
        out["store_bytes"] = os.path.getsize(os.path.join(tmp, "store.lmdb"))
    t0 = time.perf_counter()
    offline = offline_features(plan, log, start, end)
    out["offline_seconds"] = round(time.perf_counter() - t0, 1)
    result = compare(plan, served, offline)
    out["comparison"] = result.to_dict()
    counts = [f.name for f in fs.features if getattr(f, "op", None) in ("count", "distinct_count")]
    out["targets"] = {"identical_share_at_least_0.9999": (result.identical / result.values) >= 0.9999,
                      "counts_identical": not (set(result.by_feature) & set(counts)),
                      "every_difference_explained": result.differences.get("unexplained", 0) == 0}
    out["load_avg_after"] = os.getloadavg()
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.save:
        (ROOT / "benchmarks" / "results" / "online_replay.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
