"""Generation speed and memory: `fraud data generate` (the event-level data) at given sizes, with and
without the feature engine's pass over the written events.

Each step runs in a fresh child process, so its peak RSS is its own:
- `generate`: `write_events` (entities, authorisations, logins, labels, snapshots, oracle) to parquet;
- `features`: `compute_features(EventLog.from_dir(out), load_feature_set(config/features.toml))` on the result
  (skipped with a note when the engine is not importable).
Prints JSON with the CPU model and flags; with --save, writes benchmarks/results/generate_events.json
(or generate.json with --frames, the frame-level writer).

    nice -n 10 python benchmarks/generate.py --rows 2000000 --save
    nice -n 10 python benchmarks/generate.py --rows 2000000 42000000 --save
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from machine import machine  # benchmarks/machine.py: run as python benchmarks/<script>.py

ROOT = Path(__file__).resolve().parent.parent


def child(step: str, rows: int, seed: int, out: Path, frames: bool) -> dict[str, object]:
    """Run one step in this process and report its own time and peak RSS."""
    t0 = time.perf_counter()
    extra: dict[str, object] = {}
    if step == "generate" and frames:
        from fraudcore.synth import write_dataset
        write_dataset(out, rows, seed)
    elif step == "generate":
        from fraudcore.synth.events import write_events
        info = write_events(out, rows, seed)
        extra["authorisations_written"] = sum(info["authorisations"].values())
    else:
        from fraudcore.features import EventLog, compute_features, load_feature_set
        frame = compute_features(EventLog.from_dir(out), load_feature_set(ROOT / "config" / "features.toml"))
        extra["feature_rows"] = len(frame)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"step": step, "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            **extra}


def run_step(step: str, rows: int, seed: int, out: Path, frames: bool) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", step, "--rows", str(rows), "--seed", str(seed), "--out", str(out)]
    if frames:
        cmd.append("--frames")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"step": step, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed",
                "seconds": round(time.perf_counter() - t0, 2)}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_size(rows: int, seed: int, frames: bool) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="gen-bench-"))
    try:
        gen = run_step("generate", rows, seed, out, frames)
        sizes = {}
        for table in sorted({p.relative_to(out).parts[0] for p in out.rglob("*.parquet")}):
            files = list(out.glob(f"{table}/**/*.parquet")) + list(out.glob(table))
            size = sum(f.stat().st_size for f in files if f.is_file())
            sizes[table.removesuffix(".parquet")] = round(size / 2**20, 1)
        result: dict[str, object] = {"rows": rows, "generate": gen, "parquet_mb": sizes,
                                     "rows_per_second": round(rows / gen["seconds"]) if "error" not in gen else None}
        if not frames:
            result["features"] = run_step("features", rows, seed, out, frames)
            if "error" not in result["features"] and "error" not in gen:
                result["generate_plus_features_seconds"] = round(gen["seconds"] + result["features"]["seconds"], 2)
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--frames", action="store_true", help="measure the frame-level writer instead")
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--child", choices=["generate", "features"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rows[0], args.seed, args.out, args.frames)))
        return 0
    results = []
    for rows in args.rows:
        results.append(run_size(rows, args.seed, args.frames))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    report = {"benchmark": "generate_frames" if args.frames else "generate_events",
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "targets": {"rows_42m_generate_max_seconds": 600, "rows_42m_features_max_seconds": 900,
                          "features_peak_rss_max_mb": 8192},
              "results": results}
    print(json.dumps(report, indent=2))
    if args.save:
        name = "generate.json" if args.frames else "generate_events.json"
        (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
