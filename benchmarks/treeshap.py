"""One-row latency and exactness of the compiled TreeSHAP explainer on the latency benchmark's model.

    python benchmarks/treeshap.py            # prints JSON

Rows are a production window from the generator, transformed by the bundle's pipeline, flagged rows
first (those are the ones the server explains). Each row is explained alone, many times over, after
numba's first-call compile; the figures are percentiles of the per-call time. Exactness is the
largest absolute difference from LightGBM's `pred_contrib` over `--check-rows` rows.
"""
from __future__ import annotations

import argparse
import json
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

BUNDLE = ROOT / ".cache" / "bundle-500x63-300000"
BASE_ROWS = 300_000  # the bundle's training size: the window then reuses its customers and merchants


def rows_to_explain(bundle: Any, n: int, seed: int) -> np.ndarray:
    window = generate_window(max(4000, 4 * n), seed, base_rows=BASE_ROWS)
    flagged = bundle.decide(bundle.score(window)) != "approve"
    order = np.concatenate([np.flatnonzero(flagged), np.flatnonzero(~flagged)])[:n]
    return np.ascontiguousarray(bundle.pipeline.transform(window.iloc[order].reset_index(drop=True)))


def one_row_us(explainer: TreeExplainer, X: np.ndarray, repeats: int) -> np.ndarray:
    explainer.contributions(X[:1])  # compile (or load numba's cache) outside the timing
    times = []
    for _ in range(repeats):
        for i in range(len(X)):
            row = X[i:i + 1]
            t = time.perf_counter()
            explainer.contributions(row)
            times.append(time.perf_counter() - t)
    return np.asarray(times) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=BUNDLE)
    ap.add_argument("--rows", type=int, default=200, help="distinct rows timed one at a time")
    ap.add_argument("--repeats", type=int, default=10, help="passes over those rows")
    ap.add_argument("--check-rows", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()

    bundle = load_bundle(args.bundle)
    X = rows_to_explain(bundle, max(args.rows, args.check_rows), args.seed)
    t = time.perf_counter()
    explainer = TreeExplainer(bundle.booster)
    build_s = time.perf_counter() - t
    us = one_row_us(explainer, X[:args.rows], args.repeats)
    check = X[:args.check_rows]
    diff = np.abs(explainer.contributions(check) - bundle.booster.predict(check, pred_contrib=True))
    print(json.dumps({
        "bundle": args.bundle.name, "trees": bundle.booster.num_trees(),
        "machine": platform.processor() or platform.machine(),
        "construction_s": round(build_s, 3),
        "one_row_us": {f"p{p}": round(float(np.percentile(us, p)), 1) for p in (50, 95, 99)},
        "calls_timed": len(us),
        "max_abs_diff_vs_pred_contrib": float(diff.max()), "rows_checked": len(check),
    }, indent=2))


if __name__ == "__main__":
    main()
