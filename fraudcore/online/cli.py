"""`fraud features load | ingest | events`: fill and feed the online store.

    fraud features load --as-of end                       # the store as of the end of the events
    fraud features events --from 2026-10-01 --to 2026-10-02 --out day.jsonl
    fraud features ingest --from day.jsonl                # or --from - (stdin), --follow, --kinesis STREAM

Defaults: the synthetic default's events (config/train.toml [data]), the embedded store
data/online/store.lmdb, and the feature declarations of config/features.toml, or of a model bundle
with --model (the declarations the server computes with).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from fraudcore.features.durations import parse_duration
from fraudcore.features.events import EventLog
from fraudcore.features.featureset import FeatureSet, load_feature_set
from fraudcore.online.errors import OnlineConfigError
from fraudcore.online.plan import OnlinePlan, build_plan
from fraudcore.online.store import open_store

DEFAULT_STORE = "lmdb:data/online/store.lmdb"


def _feature_set(args: argparse.Namespace) -> FeatureSet:
    if args.model:
        from fraudcore.online.bundled import bundle_feature_set
        from fraudcore.registry.store import resolve_bundle

        bundle = resolve_bundle(args.model)
        fs = bundle_feature_set(bundle.manifest, bundle.schema)
        if fs is None:
            raise OnlineConfigError(f"--model {args.model}: the bundle was trained on precomputed features and "
                                    "carries no feature declarations")
        return fs
    return load_feature_set(args.features)


def _events_dir(args: argparse.Namespace) -> Path:
    if args.events:
        return Path(args.events)
    from fraudcore.config import TrainConfig
    from fraudcore.features.training import synthetic_events_dir

    data = TrainConfig.load().data
    if data.events:
        return Path(data.events)
    return synthetic_events_dir(data.synthetic_events_root, data.synthetic_rows, data.synthetic_seed)


def _time(text: str, what: str) -> int:
    from fraudcore.online.state import EventFieldError, to_ns
    try:
        return to_ns(text, what)
    except EventFieldError as err:
        raise OnlineConfigError(f"--{what}: {err}") from None


def _end_of(plan: OnlinePlan, log: EventLog) -> int:
    import duckdb

    from fraudcore.online.bulk import _files, _q
    files = _files(log, plan.fs.target, None, 2**62)
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    col = _q(plan.time_column)
    con = duckdb.connect()
    try:
        value = con.execute(f"SELECT epoch_ns(max({col})) FROM read_parquet([{listing}])").fetchone()[0]
    finally:
        con.close()
    return int(value) + 1


def _load(args: argparse.Namespace) -> int:
    from fraudcore.online.bulk import load_history
    from fraudcore.online.ingest import Ingestor

    plan = build_plan(_feature_set(args))
    log = EventLog.from_dir(_events_dir(args))
    as_of = _end_of(plan, log) if args.as_of == "end" else _time(args.as_of, "as-of")
    lateness = parse_duration(args.lateness, "--lateness")
    store = open_store(args.store, timeout_s=30.0)
    t0 = time.perf_counter()
    expiry = Ingestor(plan, store, lateness, expire=not args.no_expiry)._expiry
    report = load_history(plan, store, log, as_of, lateness, expiry=lambda key, state: expiry(state, key))
    print(json.dumps({"store": args.store, **report.to_dict(), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


def _export(args: argparse.Namespace) -> int:
    from fraudcore.online.replay import read_events

    plan = build_plan(_feature_set(args))
    log = EventLog.from_dir(_events_dir(args))
    events = read_events(plan, log, _time(args.start, "from"), _time(args.end, "to"))
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    try:
        for ev in events:
            out.write(orjson.dumps({"stream": ev.stream, "record": ev.record}) + b"\n")
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    print(json.dumps({"events": len(events), "out": args.out}), file=sys.stderr)
    return 0


EMF_COUNTS = {"IngestApplied": "applied", "IngestLate": "late", "IngestRejected": "rejected"}


def _emf(stats: dict[str, Any], stream: str, reported: dict[str, int]) -> str:
    """One CloudWatch EMF line (namespace PayLink/Fraud, dimension Source = the stream or file).

    The counts are those since the previous line (`reported` holds the totals already reported and is
    updated), so CloudWatch's Sum over a period is the events of that period and an alarm on
    IngestRejected > 0 clears once rejects stop; IngestLagSeconds is the lag now."""
    counts = {metric: stats[key] - reported.get(key, 0) for metric, key in EMF_COUNTS.items()}
    reported.update({key: stats[key] for key in EMF_COUNTS.values()})
    metrics = [{"Name": m, "Unit": "Count"} for m in EMF_COUNTS] + [{"Name": "IngestLagSeconds", "Unit": "Seconds"}]
    doc = {"Source": stream, **counts, "IngestLagSeconds": stats["lag_s"] or 0.0,
           "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
               {"Namespace": "PayLink/Fraud", "Dimensions": [["Source"]], "Metrics": metrics}]}}
    return json.dumps(doc, separators=(",", ":"))


def _ingest(args: argparse.Namespace) -> int:
    from fraudcore.online.ingest import Ingestor
    from fraudcore.online.sources import FileSource

    plan = build_plan(_feature_set(args))
    store = open_store(args.store, timeout_s=args.timeout)
    rejects = args.rejects or (str(Path(args.store.partition(":")[2]).with_suffix(".rejects.jsonl"))
                               if args.store.startswith("lmdb:") else "online-rejects.jsonl")
    ingestor = Ingestor(plan, store, parse_duration(args.lateness, "--lateness"),
                        sys.stderr.buffer if rejects == "-" else rejects, expire=not args.no_expiry)
    if args.kinesis:
        from fraudcore.online.kinesis import KinesisSource
        source: Any = KinesisSource(args.kinesis, store=store, follow=args.follow)
        name = args.kinesis
    else:
        if not args.source:
            raise OnlineConfigError("fraud features ingest: give --from FILE (or - for stdin) or --kinesis STREAM")
        source = FileSource(args.source, follow=args.follow, idle_s=args.idle,
                            checkpoint_file=args.checkpoint)
        name = args.source
    t0 = last = time.perf_counter()
    reported: dict[str, int] = {}
    for batch in source.batches(args.batch):    # a followed Kinesis stream also yields [] when caught up
        if batch:
            ingestor.apply(batch)
            source.checkpoint(batch[-1].position)
        now = time.perf_counter()
        if now - last >= args.report_every:
            last = now
            stats = ingestor.stats.to_dict()
            line = _emf(stats, name, reported) if args.emf else json.dumps(stats)
            print(line, file=sys.stdout if args.emf else sys.stderr, flush=True)
    summary = {**ingestor.stats.to_dict(), "seconds": round(time.perf_counter() - t0, 2),
               "rejects": "stderr" if rejects == "-" else rejects}
    if args.emf:
        print(_emf(summary, name, reported), flush=True)
    print(json.dumps(summary))
    return 0


def add_commands(sub: Any, features_default: str) -> None:
    def common(p: argparse.ArgumentParser, events: bool = True) -> None:
        p.add_argument("--store", default=DEFAULT_STORE, help="lmdb:PATH or dynamodb:TABLE (default: %(default)s)")
        p.add_argument("--features", default=features_default, help="features.toml (default: PayLink's)")
        p.add_argument("--model", default=None, help="use this bundle's feature declarations (run id, dir, champion)")
        p.add_argument("--lateness", default="5m", help="events up to this much older than the latest applied "
                       "are accepted (default: %(default)s)")
        p.add_argument("--no-expiry", action="store_true", help="write no expiry times (replays of history)")
        if events:
            p.add_argument("--events", default=None, help="raw event directory (default: the synthetic default's)")

    lo = sub.add_parser("load", help="write the online store as of a time, from the raw event log (bulk)")
    common(lo)
    lo.add_argument("--as-of", default="end", help="ISO time, or 'end' (after the last event; default)")
    lo.set_defaults(run=_load)

    ex = sub.add_parser("events", help="write the event log of a period as JSONL, in time order (ingest's input)")
    ex.add_argument("--features", default=features_default)
    ex.add_argument("--model", default=None)
    ex.add_argument("--events", default=None)
    ex.add_argument("--from", dest="start", required=True, help="ISO time (inclusive)")
    ex.add_argument("--to", dest="end", required=True, help="ISO time (exclusive)")
    ex.add_argument("--out", default="-", help="file, or - for stdout (default)")
    ex.set_defaults(run=_export)

    ing = sub.add_parser("ingest", help="apply a stream of events to the online store")
    common(ing, events=False)
    ing.add_argument("--from", dest="source", default=None, help="JSONL file of {stream, record}, or - for stdin")
    ing.add_argument("--kinesis", default=None, help="read this Kinesis stream instead (all shards)")
    ing.add_argument("--follow", action="store_true", help="keep reading what is appended to the file or stream")
    ing.add_argument("--idle", type=float, default=5.0, help="with --follow, stop after this many idle seconds")
    ing.add_argument("--checkpoint", default=None, help="file keeping the last applied line (resume after it)")
    ing.add_argument("--batch", type=int, default=500, help="events per store round trip (default: %(default)s)")
    ing.add_argument("--rejects", default=None, help="JSONL of rejected events with reasons, or - for standard "
                     "error (default: beside the lmdb store, else ./online-rejects.jsonl)")
    ing.add_argument("--timeout", type=float, default=5.0, help="store call budget in seconds")
    ing.add_argument("--report-every", type=float, default=10.0, help="seconds between progress lines")
    ing.add_argument("--emf", action="store_true", help="progress as CloudWatch EMF lines on stdout")
    ing.set_defaults(run=_ingest)
