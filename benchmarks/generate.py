"""Generation speed and memory: rows/s and peak RSS of `fraud data generate` at given sizes.

Each size runs in a fresh child process so its peak RSS is its own. Prints JSON; with --save, also
writes benchmarks/results/generate.json with the date and machine.

    python benchmarks/generate.py --rows 2000000 42000000 --save
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def run_once(rows: int, seed: int, keep: Path | None) -> dict:
    out = keep or Path(tempfile.mkdtemp(prefix="gen-bench-"))
    cmd = [sys.executable, "-m", "fraudcore.cli", "data", "generate", "--rows", str(rows), "--seed", str(seed),
           "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    size = sum(f.stat().st_size for f in out.rglob("*.parquet"))
    if keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return {"rows": rows, "seconds": round(wall, 2), "rows_per_second": round(rows / wall),
            "peak_rss_mb": round(after.ru_maxrss / 1024, 1), "cpu_seconds": round(
                (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
            "parquet_mb": round(size / 2**20, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    results = []
    for rows in args.rows:  # ru_maxrss of children is a max over all children: run the sizes in increasing order
        results.append(run_once(rows, args.seed, None))
        print(json.dumps(results[-1]), file=sys.stderr)
    report = {"benchmark": "generate", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "targets": {"rows_42m_max_seconds": 600, "peak_rss_max_mb": 4096}, "results": results}
    print(json.dumps(report, indent=2))
    if args.save:
        Path(__file__).parent.joinpath("results", "generate.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
