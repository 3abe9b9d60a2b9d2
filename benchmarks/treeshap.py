"""One-row latency and exactness of the compiled TreeSHAP explainer on the latency benchmark's model.

    python benchmarks/treeshap.py            # prints JSON

Rows are a production window from the generator, transformed by the bundle's pipeline, flagged rows
first (those are the ones the server explains). Each row is explained alone, after numba's
first-call compile; the figures are percentiles of the per-call time, in two settings:

- hot: the rows one after another, many times over, so the explainer's tables stay in cache;
- cold: before each row, a buffer larger than the last-level cache (`--flush-mb`) is written, as
  the ~30 requests a server scores between two explained ones do: the tables come from memory.

`plan_bytes` is what one row's kernel reads of the explainer's own tables. Exactness is the largest
absolute difference from LightGBM's `pred_contrib` over `--check-rows` rows.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from fraudcore.bundle import load_bundle  # noqa: E402
from fraudcore.serving.fastshap import TreeExplainer  # noqa: E402
from fraudcore.synth import generate_window  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staleness import publish  # noqa: E402

BUNDLE = ROOT / ".cache" / "bundle-500x63-300000"
BASE_ROWS = 300_000  # the bundle's training size: the window then reuses its customers and merchants


def rows_to_explain(bundle: Any, n: int, seed: int) -> np.ndarray:
    window = generate_window(max(4000, 4 * n), seed, base_rows=BASE_ROWS)
    flagged = bundle.decide(bundle.score(window)) != "approve"
    order = np.concatenate([np.flatnonzero(flagged), np.flatnonzero(~flagged)])[:n]
    return np.ascontiguousarray(bundle.pipeline.transform(window.iloc[order].reset_index(drop=True)))


def hot_us(explainer: TreeExplainer, X: np.ndarray, repeats: int) -> np.ndarray:
    explainer.contributions(X[:1])  # compile (or load numba's cache) outside the timing
    times = []
    for _ in range(repeats):
        for i in range(len(X)):
            row = X[i:i + 1]
            t = time.perf_counter()
            explainer.contributions(row)
            times.append(time.perf_counter() - t)
    return np.asarray(times) * 1e6


def cold_us(explainer: TreeExplainer, X: np.ndarray, flush_mb: int) -> np.ndarray:
    explainer.contributions(X[:1])
    flush = np.zeros(flush_mb * 2**20 // 8)
    times = []
    for i in range(len(X)):
        row = X[i:i + 1]
        flush += 1.0  # reads and writes every line: evicts the explainer's tables from every cache level
        t = time.perf_counter()
        explainer.contributions(row)
        times.append(time.perf_counter() - t)
    return np.asarray(times) * 1e6


def plan_bytes(explainer: TreeExplainer) -> int:
    """Bytes of the arrays `contributions` reads (not `decisions`' node map)."""
    plan = explainer._plan
    return sum(getattr(plan, k).nbytes for k in plan.__dataclass_fields__
               if k != "nodes" and isinstance(getattr(plan, k), np.ndarray))


def percentiles(us: np.ndarray) -> dict[str, float]:
    return {f"p{p}": round(float(np.percentile(us, p)), 1) for p in (50, 95, 99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=BUNDLE)
    ap.add_argument("--rows", type=int, default=200, help="distinct rows timed one at a time")
    ap.add_argument("--repeats", type=int, default=10, help="hot passes over those rows")
    ap.add_argument("--flush-mb", type=int, default=64, help="buffer written before each cold row (> L3)")
    ap.add_argument("--check-rows", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--save", action="store_true", help="also write benchmarks/results/treeshap_<bundle>.json")
    args = ap.parse_args()

    bundle = load_bundle(args.bundle)
    X = rows_to_explain(bundle, max(args.rows, args.check_rows), args.seed)
    t = time.perf_counter()
    explainer = TreeExplainer(bundle.booster)
    build_s = time.perf_counter() - t
    hot = hot_us(explainer, X[:args.rows], args.repeats)
    cold = cold_us(explainer, X[:args.rows], args.flush_mb)
    check = X[:args.check_rows]
    diff = np.abs(explainer.contributions(check) - bundle.booster.predict(check, pred_contrib=True))
    publish({
        "bundle": args.bundle.name, "trees": bundle.booster.num_trees(),
        "machine": platform.processor() or platform.machine(),
        "construction_s": round(build_s, 3),
        "plan_bytes": plan_bytes(explainer),
        "one_row_us": percentiles(hot), "calls_timed": len(hot),
        "cold_one_row_us": percentiles(cold), "cold_calls_timed": len(cold), "flush_mb": args.flush_mb,
        "max_abs_diff_vs_pred_contrib": float(diff.max()), "rows_checked": len(check),
    }, f"treeshap_{args.bundle.name}.json", args.save)


if __name__ == "__main__":
    main()
