"""Feature engine speed and memory on a random event log of PayLink's declared shape.

Each case runs in a fresh child process, so its peak RSS is its own. Prints JSON; --save writes
benchmarks/results/features.json. The log comes from fraudcore.features.toy (numpy, seeded) until the
event-level generator lands: same tables and columns, no fraud pattern.

    python benchmarks/features.py --rows 2000000 --save                  # all 40 features, one pass
    python benchmarks/features.py --month-of 42000000 --save             # one month partition of 42M, from parquet
    python benchmarks/features.py --compare 2000000 --save               # DuckDB against polars, same aggregates
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from machine import machine  # benchmarks/machine.py: run as python benchmarks/<script>.py

ROOT = Path(__file__).resolve().parents[1]
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 7)]


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)   # ru_maxrss is KiB on Linux


def case_all(rows: int, repeat: int, seed: int) -> dict:
    from fraudcore.features import EventLog, compute_features_with_report, load_feature_set
    from fraudcore.features.toy import toy_event_log

    fs = load_feature_set(ROOT / "config" / "features.toml")
    t0 = time.perf_counter()
    tables = toy_event_log(fs, rows, seed, MONTHS)
    generate_s = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = compute_features_with_report(EventLog(tables), fs)
        times.append(time.perf_counter() - t0)
    return {"case": "all 40 features, whole log in one pass (in-memory frames)", "rows": rows,
            "events": {k: len(v) for k, v in tables.items()}, "toy_log_seconds": round(generate_s, 2),
            "seconds": [round(t, 2) for t in times], "median_seconds": round(statistics.median(times), 2),
            "rows_per_second": int(rows / statistics.median(times)), "out_rows": len(result.frame),
            "peak_rss_gb": peak_rss_gb()}


def write_month_log(total_rows: int, seed: int) -> dict:
    """Four months (the last one plus three of lookback) of a log with `total_rows` over 18 months, as parquet."""
    import pandas as pd

    from fraudcore.features import load_feature_set
    from fraudcore.features.toy import DEFAULT_RATIOS, toy_event_log

    fs = load_feature_set(ROOT / "config" / "features.toml")
    months = MONTHS[-4:]
    rows = int(total_rows * 4 / len(MONTHS))
    scale = total_rows / rows          # entities sized for the whole log, not for the four months
    tables = toy_event_log(fs, rows, seed, months, ratios={k: v * scale for k, v in DEFAULT_RATIOS.items()})
    root = Path(tempfile.mkdtemp(prefix="features-bench-"))
    for name, frame in tables.items():
        decl = fs.tables[name]
        if decl.kind == "entity":
            frame.to_parquet(root / f"{name}.parquet")
            continue
        label = pd.to_datetime(frame[decl.time]).dt.strftime("%Y-%m")
        for month, part in frame.groupby(label):
            (root / name / f"month={month}").mkdir(parents=True, exist_ok=True)
            part.to_parquet(root / name / f"month={month}" / "part-0.parquet")
    return {"root": str(root), "rows": rows, "month": months[-1]}


def case_month(root: str, rows: int, month: str, total_rows: int, memory_limit: str | None) -> dict:
    """One month partition computed from parquet, in a process that did nothing else (its own peak RSS)."""
    from fraudcore.features import EventLog, compute_partition, load_feature_set, plan_months

    fs = load_feature_set(ROOT / "config" / "features.toml")
    t0 = time.perf_counter()
    result = compute_partition(EventLog.from_dir(root), fs, plan_months(fs, [month])[0], memory_limit=memory_limit)
    seconds = time.perf_counter() - t0
    return {"case": f"one month partition ({month}) of a {total_rows:,}-row log, read from parquet",
            "rows_in_month": len(result.frame), "target_rows_read_with_lookback": rows, "seconds": round(seconds, 2),
            "projected_18_months_sequential_seconds": round(seconds * len(MONTHS), 1),
            "peak_rss_gb": peak_rss_gb(), "memory_limit": memory_limit}


def case_compare(rows: int, seed: int) -> dict:
    """The heaviest group (customer aggregates over authorisations) in DuckDB and in polars."""
    import duckdb
    import numpy as np
    import polars as pl

    from fraudcore.features import load_feature_set
    from fraudcore.features.toy import toy_event_log

    fs = load_feature_set(ROOT / "config" / "features.toml")
    auth = toy_event_log(fs, rows, seed, MONTHS)[fs.target][["transaction_id", "event_time", "customer_id",
                                                              "merchant_id", "amount", "approved"]]
    day = 86_400_000_000_000
    out = {"case": "customer aggregates of authorisations: counts 24h/7d, sum 24h, mean/std 30d, declines 7d, "
                   "distinct merchants 7d, last seen 90d", "rows": rows}
    con = duckdb.connect()
    con.register("auth_frame", auth)
    con.execute("CREATE TABLE a AS SELECT *, epoch_ns(event_time) AS t FROM auth_frame")
    frame = lambda w: f"(PARTITION BY customer_id ORDER BY t RANGE BETWEEN {w} PRECEDING AND 1 PRECEDING)"
    sql = (f"SELECT transaction_id, count(*) OVER {frame(day)} c24, count(*) OVER {frame(7 * day)} c7, "
           f"coalesce(sum(amount) OVER {frame(day)}, 0) s24, avg(amount) OVER {frame(30 * day)} m30, "
           f"stddev_pop(amount) OVER {frame(30 * day)} sd30, count(CASE WHEN NOT approved THEN 1 END) OVER {frame(7 * day)} d7, "
           f"count(DISTINCT merchant_id) OVER {frame(7 * day)} dm7, max(t) OVER {frame(90 * day)} last90 FROM a")
    t0 = time.perf_counter()
    duck = con.execute(sql).df().sort_values("transaction_id").reset_index(drop=True)
    out["duckdb_seconds"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    p = pl.from_pandas(auth).sort("customer_id", "event_time")
    roll = lambda expr, fn, w: getattr(expr, fn)("event_time", window_size=w, closed="left").over("customer_id")
    p = p.with_columns(
        roll(pl.col("amount") * 0 + 1, "rolling_sum_by", "24h").fill_null(0).alias("c24"),
        roll(pl.col("amount") * 0 + 1, "rolling_sum_by", "7d").fill_null(0).alias("c7"),
        roll(pl.col("amount"), "rolling_sum_by", "24h").fill_null(0).alias("s24"),
        roll(pl.col("amount"), "rolling_mean_by", "30d").alias("m30"),
        roll(pl.col("amount"), "rolling_std_by", "30d").alias("sd30_sample"),
        roll(pl.col("amount") * 0 + 1, "rolling_sum_by", "30d").alias("n30"),
        roll((~pl.col("approved")).cast(pl.Float64), "rolling_sum_by", "7d").fill_null(0).alias("d7"),
        roll(pl.col("event_time"), "rolling_max_by", "90d").alias("last90"),
    )
    distinct = (p.rolling("event_time", period="7d", closed="left", group_by="customer_id")
                .agg(pl.col("merchant_id").n_unique().alias("dm7")))
    polars_s = time.perf_counter() - t0
    out["polars_seconds"] = round(polars_s, 2)
    got = p.sort("transaction_id")
    out["polars_matches_duckdb"] = {
        "c24": bool(np.array_equal(got["c24"].to_numpy(), duck["c24"].to_numpy())),
        "s24": bool(np.allclose(got["s24"].to_numpy(), duck["s24"].to_numpy(), rtol=1e-9)),
        "distinct_rows": len(distinct),
    }
    return out


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[], help="sizes for the all-features case")
    parser.add_argument("--month-of", type=int, nargs="*", default=[], help="log sizes for the one-month case")
    parser.add_argument("--compare", type=int, nargs="*", default=[], help="sizes for DuckDB against polars")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        result = {"all": lambda: case_all(n, args.repeat, args.seed),
                  "write": lambda: write_month_log(n, args.seed),
                  "month": lambda: case_month(args.child[2], int(args.child[3]), args.child[4], n, args.memory_limit),
                  "compare": lambda: case_compare(n, args.seed)}[kind]()
        print(json.dumps(result))
        return 0
    extra = ["--repeat", str(args.repeat), "--seed", str(args.seed)]
    if args.memory_limit:
        extra += ["--memory-limit", args.memory_limit]
    cases = ([("all", n) for n in args.rows] + [("month", n) for n in args.month_of]
             + [("compare", n) for n in args.compare])
    results = []
    for kind, n in cases:
        print(f"running {kind} {n:,} ...", file=sys.stderr, flush=True)
        if kind == "month":
            log = run_child(["write", str(n), *extra])
            results.append(run_child(["month", str(n), log["root"], str(log["rows"]), log["month"], *extra]))
            shutil.rmtree(log["root"], ignore_errors=True)
        else:
            results.append(run_child([kind, str(n), *extra]))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    import duckdb

    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "python": platform.python_version(), "duckdb": duckdb.__version__,
              "load_avg_before": os.getloadavg(), "targets": {"2M_seconds": 60, "42M_seconds": 900, "42M_peak_rss_gb": 8},
              "results": results}
    print(json.dumps(report, indent=2))
    if args.save:
        path = ROOT / "benchmarks" / "results" / "features.json"
        previous = json.loads(path.read_text()) if path.exists() else {"runs": []}
        previous["runs"].append(report)
        path.write_text(json.dumps(previous, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
