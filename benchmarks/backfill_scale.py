"""The whole offline path at PayLink's scale: generate N authorisations of raw events, then backfill every feature
of every month with `fraud features backfill` (months one after another, DuckDB under a memory limit).

    python benchmarks/backfill_scale.py --rows 42000000 --out /tmp/scale --memory-limit 6GB --save

Prints JSON: wall seconds and peak RSS of each command (each a child process), rows per month, the CPU model and
its vector extensions. Targets (issue 14): 42M transactions with their events generated in <= 10 min; their
features in <= 15 min with peak RSS <= 8 GB.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import machine  # benchmarks/machine.py: run as python benchmarks/<script>.py

ROOT = Path(__file__).resolve().parent.parent
FRAUD = str(Path(sys.executable).with_name("fraud"))


def timed(cmd: list[str]) -> dict[str, object]:
    """Wall time and peak RSS of one child process (ru_maxrss of the largest child so far, in KB)."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"cmd": " ".join(cmd), "seconds": round(wall, 1), "peak_rss_gb_so_far": round(peak_kb / 2**20, 2),
            "stdout_tail": out.stdout.strip().splitlines()[-1:]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=42_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--memory-limit", default="6GB")
    p.add_argument("--save", action="store_true")
    a = p.parse_args()
    events, features = a.out / "events", a.out / "features"
    gen = timed([FRAUD, "data", "generate", "--rows", str(a.rows), "--seed", str(a.seed), "--out", str(events)])
    backfill = timed([FRAUD, "features", "backfill", "--events", str(events), "--out", str(features),
                      "--memory-limit", a.memory_limit])
    summary = json.loads((features / "_backfill.json").read_text())
    result = {"rows": a.rows, "seed": a.seed, "machine": machine(), "generate": gen, "backfill": backfill,
              "rows_per_month": summary["months"], "targets": {"generate_s": 600, "backfill_s": 900,
                                                               "backfill_peak_rss_gb": 8}}
    print(json.dumps(result, indent=2))
    if a.save:
        (ROOT / "benchmarks" / "results" / f"backfill_scale_{a.rows // 1_000_000}m.json").write_text(
            json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
