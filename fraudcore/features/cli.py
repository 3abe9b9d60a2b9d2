"""`fraud features backfill --events DIR --out DIR [--months YYYY-MM ...]`: the offline backfill.

The online store's commands (`load`, `events`, `ingest`) are in fraudcore/online/cli.py.

Writes `<out>/month=YYYY-MM/part-0.parquet` (one row per target event, schema dtypes), one month at a
time so memory stays bounded, plus `<out>/_backfill.json`: the declarations' fingerprint, rows per
month and the validation report of every partition.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fraudcore.features.engine import compute_partition
from fraudcore.features.errors import EventDataError
from fraudcore.features.events import EventLog, ParquetTable
from fraudcore.features.featureset import DEFAULT_FEATURES_PATH, load_feature_set
from fraudcore.features.partitions import plan_months


def _months(log: EventLog, target: str) -> list[str]:
    source = log[target]
    if not isinstance(source, ParquetTable) or not source.months():
        raise EventDataError(f"table {target!r} is not stored by month (<events>/{target}/month=YYYY-MM/); "
                             f"pass --months")
    return source.months()


def _backfill(args: argparse.Namespace) -> int:
    fs = load_feature_set(args.features)
    log = EventLog.from_dir(args.events)
    months = args.months or _months(log, fs.target)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = {"features": str(args.features), "fingerprint": fs.fingerprint(), "months": {}, "reports": []}
    plan = plan_months(fs, months)
    for i, part in enumerate(plan):
        t1 = time.perf_counter()
        result = compute_partition(log, fs, part, threads=args.threads, memory_limit=args.memory_limit)
        folder = out / f"month={part.label}"
        folder.mkdir(exist_ok=True)
        result.frame.to_parquet(folder / "part-0.parquet", index=False)
        summary["months"][part.label] = len(result.frame)
        summary["reports"] += [r.to_dict() for r in result.reports]
        print(f"  month {i + 1:2d}/{len(plan)} {part.label}: {len(result.frame):,} rows "
              f"({time.perf_counter() - t1:.1f}s, total {time.perf_counter() - t0:.1f}s)", file=sys.stderr, flush=True)
        if args.verbose:
            print("\n".join(r.to_text() for r in result.reports), file=sys.stderr)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "_backfill.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({"out": str(out), "rows": sum(summary["months"].values()), "months": len(plan),
                      "seconds": summary["seconds"], "fingerprint": summary["fingerprint"]}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud features", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backfill", help="compute every feature of every target event, month by month")
    b.add_argument("--events", required=True, help="directory in the raw event layout")
    b.add_argument("--out", required=True, help="output directory (month=YYYY-MM/part-0.parquet)")
    b.add_argument("--months", nargs="+", help="YYYY-MM months to compute (default: every month of the target)")
    b.add_argument("--features", default=str(DEFAULT_FEATURES_PATH), help="features.toml (default: PayLink's)")
    b.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    b.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 6GB (it spills beyond)")
    b.add_argument("--verbose", action="store_true", help="print each month's validation report")
    b.set_defaults(run=_backfill)
    from fraudcore.online.cli import add_commands
    add_commands(sub, str(DEFAULT_FEATURES_PATH))
    args = parser.parse_args(argv)
    return args.run(args)  # FraudErrors are reported by `fraud` (fraudcore/cli.py)


if __name__ == "__main__":
    sys.exit(main())
