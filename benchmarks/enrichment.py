"""Where a checkout request's enrichment time goes, in process: the store reads, and the computation.

    python benchmarks/enrichment.py [--events data/events/rows=2000000-seed=7] [--requests 2000] [--save]

The store is bulk-loaded as of the 10th of the log's last month (as benchmarks/latency.py does), and
the next `--requests` authorisations are enriched one by one with `OnlineFeatures.compute` (what the
server runs). Reported, at normal and at real-time (SCHED_FIFO) priority:
- CPU time per request (thread time, the best of 5 passes over all requests);
- per-request wall time (each request's fastest of the 5 passes): median, p99, max;
- the store reads alone, replaying the exact keys each request read: the embedded store (LMDB), and the
  same items in SQLite with the previous embedded store's schema and settings (a WITHOUT ROWID table,
  WAL, a memory map, one `SELECT ... WHERE key IN (...)` per round), which is why the store changed.
Prints JSON with the CPU model and its vector extensions; --save writes benchmarks/results/enrichment.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from machine import machine  # benchmarks/machine.py

from fraudcore.features import EventLog, load_feature_set
from fraudcore.online.bulk import load_history
from fraudcore.online.enrich import OnlineFeatures
from fraudcore.online.plan import build_plan
from fraudcore.online.replay import checkout_request, read_events
from fraudcore.online.store import LmdbStore

ROOT = Path(__file__).resolve().parent.parent
PASSES = 5
RT_PRIORITY = 10


def _passes(requests: list, one: Callable[[Any], Any]) -> dict[str, float]:
    """CPU per request (best pass) and each request's fastest wall time over the passes."""
    for r in requests[:300]:
        one(r)                                        # warm the page cache and the interpreter
    cpu, wall = [], np.full(len(requests), np.inf)
    for _ in range(PASSES):
        c0 = time.thread_time()
        for i, r in enumerate(requests):
            w0 = time.perf_counter()
            one(r)
            wall[i] = min(wall[i], time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
    us = wall * 1e6
    return {"cpu_us_per_request": round(min(cpu) / len(requests) * 1e6, 1),
            "wall_us_median": round(float(np.median(us)), 1), "wall_us_p99": round(float(np.percentile(us, 99)), 1),
            "wall_us_max": round(float(us.max()), 1)}


def _sqlite_copy(store: LmdbStore, path: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER NOT NULL, "
                "expires_at INTEGER NOT NULL) WITHOUT ROWID")
    con.execute("BEGIN")
    con.executemany("INSERT INTO kv VALUES (?, ?, ?, 0)", ((k, bytes(i.value), i.version) for k, i in store.items()))
    con.execute("COMMIT")
    con.close()
    reader = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)
    for pragma in ("synchronous=NORMAL", "mmap_size=4294967296", "cache_size=-65536"):
        reader.execute(f"PRAGMA {pragma}")
    return reader


def _sqlite_get_many(con: sqlite3.Connection, keys: list[str]) -> dict[str, tuple[bytes, int]]:
    marks = ",".join("?" * len(keys))
    return {k: (v, ver) for k, v, ver in con.execute(f"SELECT key, value, version FROM kv WHERE key IN ({marks})", keys)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", default=str(ROOT / "data/events/rows=2000000-seed=7"))
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--save", action="store_true")
    args = p.parse_args()
    fs = load_feature_set()
    plan = build_plan(fs)
    log = EventLog.from_dir(args.events)
    months = json.loads((Path(args.events) / "manifest.json").read_text())["months"]
    start = pd.Timestamp(months[-1] + "-10").value
    out: dict[str, Any] = {"benchmark": "enrichment", "command": "python benchmarks/enrichment.py",
                           "events": args.events, "store_as_of": months[-1] + "-10",
                           "machine": {**machine(), "load_avg_before": os.getloadavg()}}
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbStore(Path(tmp) / "store.lmdb")
        load_history(plan, store, log, start, 5 * 60 * 10**9)
        events = [e for e in read_events(plan, log, start, start + 3 * 86_400 * 10**9) if e.stream == fs.target]
        requests = [checkout_request(plan, e.record) for e in events[:args.requests]]
        features = OnlineFeatures(plan, store)
        reads: list[list[str]] = []                 # the keys of each get_many of the current request
        by_request: list[list[list[str]]] = []
        get_many = store.get_many

        def recorded(keys):
            reads.append(list(keys))
            return get_many(keys)
        store.get_many = recorded                   # type: ignore[method-assign]
        for r in requests:
            reads = []
            features.compute([r])
            by_request.append(reads)
        store.get_many = get_many                   # type: ignore[method-assign]
        out["requests"] = len(requests)
        out["reads_per_request"] = round(sum(map(len, by_request)) / len(requests), 2)
        out["keys_per_request"] = round(sum(len(k) for rs in by_request for k in rs) / len(requests), 1)
        sqlite_con = _sqlite_copy(store, os.path.join(tmp, "store.sqlite"))
        runs: dict[str, Any] = {}
        for priority in ("normal", "realtime"):
            if priority == "realtime":
                if os.geteuid() != 0:
                    runs[priority] = {"skipped": "real-time priority needs root"}
                    continue
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
            try:
                runs[priority] = {
                    "scheduling": f"SCHED_FIFO {RT_PRIORITY}" if priority == "realtime" else "SCHED_OTHER (normal)",
                    "enrichment": _passes(requests, lambda r: features.compute([r])),
                    "store_reads_lmdb": _passes(by_request, lambda rs: [get_many(k) for k in rs]),
                    "store_reads_sqlite_previous_store": _passes(
                        by_request, lambda rs: [_sqlite_get_many(sqlite_con, k) for k in rs]),
                }
            finally:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            print(json.dumps({priority: runs[priority]}), flush=True)
        sqlite_con.close()
        store.close()
    out["runs"] = runs
    out["machine"]["load_avg_after"] = os.getloadavg()
    text = json.dumps(out, indent=2)
    print(text)
    if args.save:
        (ROOT / "benchmarks" / "results" / "enrichment.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
