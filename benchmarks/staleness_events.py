"""What serving stale aggregates would cost, on the event data: replay a month through the online path and
score each authorisation three ways with one model trained from raw events (issue 14's and 15's re-measure
of docs/tradeoffs.md#batch-vs-online-features).

    python benchmarks/staleness_events.py --model RUN_ID --from 2026-10-01 --to 2026-11-01 --save

- exact: every feature at the request's time, as the online path serves it (and as training saw);
- plan: what docs/tradeoffs.md first planned: the 24-hour counters and the last-seen state
  (`days_since_last_txn`, `is_new_device`) streamed, every longer window from a daily batch;
- hybrid: only the windows of 24 hours or less streamed (last-seen state from the batch too);
- daily: every aggregate from the daily batch.
A daily batch holds each aggregate over the window ending at the previous midnight; a last-seen value
holds the last event before midnight, and the request measures from its own time.
The midnight values come from the same store state with the window rule applied at 00:00 of the
request's day (events strictly before it), so the three differ only in freshness. The model is not
retrained: this is the skew a daily store would cause for a model trained on point-in-time features.
Prints JSON with PR-AUC, recall at precision >= 0.20 and the share of rows whose features differ; the CPU
model and vector extensions are recorded.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from machine import machine  # benchmarks/machine.py

from fraudcore.features import EventLog
from fraudcore.features.durations import NS_PER_DAY
from fraudcore.metrics import pr_auc, recall_at_precision
from fraudcore.online.bulk import load_history
from fraudcore.online.bundled import bundle_feature_set
from fraudcore.online.enrich import OnlineFeatures
from fraudcore.online.ingest import Ingestor
from fraudcore.online.plan import build_plan
from fraudcore.online.replay import read_events, replay
from fraudcore.online.store import LmdbStore
from fraudcore.registry.store import resolve_bundle

ROOT = Path(__file__).resolve().parent.parent
LATENESS = 5 * 60 * 10**9
DAY_H = 24 * 3_600 * 10**9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="run id or bundle dir trained from raw events")
    p.add_argument("--events", default=str(ROOT / "data/events/rows=2000000-seed=7"))
    p.add_argument("--from", dest="start", default="2026-10-01")
    p.add_argument("--to", dest="end", default="2026-11-01")
    p.add_argument("--save", action="store_true")
    args = p.parse_args()
    bundle = resolve_bundle(args.model)
    fs = bundle_feature_set(bundle.manifest, bundle.schema)
    plan = build_plan(fs)
    # keep one more day of events, so that a midnight view is exact too
    plan = dataclasses.replace(plan, groups=tuple(dataclasses.replace(g, retention_ns=g.retention_ns + NS_PER_DAY)
                                                  for g in plan.groups))
    aggregates = [f for f in fs.features if f.kind == "aggregate"]
    fast = {f.name for f in aggregates if f.window_ns <= DAY_H}
    last_seen = {f.name for f in aggregates if f.op in ("last_seen", "first_time")}
    slow = {f.name for f in aggregates} - fast
    log = EventLog.from_dir(args.events)
    start, end = pd.Timestamp(args.start).value, pd.Timestamp(args.end).value
    rows: dict[str, list] = {"exact": [], "midnight": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = LmdbStore(os.path.join(tmp, "s.lmdb"))
        load_history(plan, store, log, start, LATENESS)
        ingestor = Ingestor(plan, store, LATENESS, expire=False)
        features = OnlineFeatures(plan, store)
        t_col = plan.time_column

        def enrich(request):
            exact = features.compute([request])[0].record
            midnight = (request[t_col] // NS_PER_DAY) * NS_PER_DAY
            at_midnight = features.compute([{**request, t_col: midnight}])[0].record
            for f in aggregates:      # the batch keeps the time of the last event; the request measures from t
                if f.op == "last_seen" and at_midnight[f.name] is not None:
                    at_midnight[f.name] = float(np.float32(at_midnight[f.name] + (request[t_col] - midnight) / NS_PER_DAY))
            rows["exact"].append(exact)
            rows["midnight"].append(at_midnight)
            return exact

        t0 = time.perf_counter()
        replay(plan, ingestor, read_events(plan, log, start, end), enrich)
        seconds = time.perf_counter() - t0
    exact = pd.DataFrame(rows["exact"])
    midnight = pd.DataFrame(rows["midnight"])
    hybrid = exact.copy()
    hybrid[sorted(slow)] = midnight[sorted(slow)]
    planned = exact.copy()
    planned[sorted(slow - last_seen)] = midnight[sorted(slow - last_seen)]
    daily = exact.copy()
    daily[sorted(fast | slow)] = midnight[sorted(fast | slow)]
    labels = pd.read_parquet(Path(args.events) / "labels", columns=["transaction_id", "is_fraud"])
    fraud = labels.groupby("transaction_id")["is_fraud"].max()
    y = exact[plan.id_column].map(fraud).fillna(0).astype(int).to_numpy()
    out = {"machine": machine(), "model": bundle.version, "events": args.events, "from": args.start,
           "to": args.end, "transactions": int(len(y)), "frauds": int(y.sum()), "replay_seconds": round(seconds, 1),
           "streamed_in_plan": sorted(fast | last_seen), "streamed_in_hybrid": sorted(fast),
           "variants": {}}
    for name, frame in (("exact", exact), ("plan", planned), ("hybrid", hybrid), ("daily", daily)):
        s = bundle.score(frame)
        changed = (frame[sorted(fast | slow)].astype(object).fillna(-1).to_numpy()
                   != exact[sorted(fast | slow)].astype(object).fillna(-1).to_numpy()).any(axis=1)
        decided = bundle.decide(s)
        out["variants"][name] = {"pr_auc": round(pr_auc(y, s), 4), "recall_at_p20": round(recall_at_precision(y, s, 0.2), 4),
                                 "alert_rate_at_the_bundle_threshold": round(float((decided != "approve").mean()), 4),
                                 "recall_at_the_bundle_threshold": round(float((decided[y == 1] != "approve").mean()), 4),
                                 "rows_with_a_different_aggregate": round(float(changed.mean()), 4),
                                 "frauds_with_a_different_aggregate": int(changed[y == 1].sum())}
    text = json.dumps(out, indent=2)
    print(text)
    if args.save:
        (ROOT / "benchmarks" / "results" / "staleness_events.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
