"""Model size against quality, latency, explanation cost and training time: a trees x leaves sweep.

For each leaf count, one LightGBM model is boosted to the largest tree count, recording the training
clock at every checkpoint; each (trees, leaves) model is then that booster cut at `trees` iterations
and reloaded from its own text, as the server would load it. Per model it measures:
- validation and holdout PR-AUC and holdout recall at precision >= 0.20;
- one-row scoring latency: `booster.predict` on a (1, n) float32 row with num_threads=1, p50/p99, as wall
  time and as thread CPU time (robust to other jobs on a shared machine), interleaved across models;
- exact TreeSHAP (`pred_contrib=True`) on one row, p50/p99; and the same values from the server's compiled
  explainer (fraudcore/serving/fastshap.py), which is what a flagged request pays in production;
- training seconds up to that many trees, wall and process CPU (Dataset construction reported separately).

Same data, split, pipeline and parameters as benchmarks/staleness.py (fresh features; TrainFlow's tuned
settings and recency weights on this data, except the two swept here), so the two tables can be read
together. TrainFlow chose 127 leaves and 137 rounds on this data. Prints JSON; with --save, writes
benchmarks/results/complexity.json.

    nice -n 10 python benchmarks/complexity.py --rows 2000000 --save
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from fraudcore.metrics import pr_auc, recall_at_precision
from fraudcore.schema import paylink_schema
from fraudcore.serving.fastshap import TreeExplainer
from fraudcore.synth import generate_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staleness import (PARAMS, PRECISION_FLOOR, downsample, machine, peak_rss_mb, pipeline_for,  # noqa: E402
                       publish, split_months, train_weights)


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    a = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {"p50_us": round(float(np.percentile(a, 50)), 1), "p99_us": round(float(np.percentile(a, 99)), 1),
            "mean_us": round(float(a.mean()), 1)}


def time_calls(fn, rows: list[np.ndarray], calls: int) -> tuple[list[int], list[int]]:
    """Wall and thread-CPU nanoseconds of `calls` one-row calls `fn(row)`, cycling over `rows`.

    Thread CPU time counts only the time this thread ran, so it is the service time on a dedicated core
    even when other jobs preempt it; wall time includes those preemptions."""
    wall, cpu = [], []
    for i in range(calls):
        row = rows[i % len(rows)]
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        fn(row)
        wall.append(time.perf_counter_ns() - t0)
        cpu.append(time.thread_time_ns() - c0)
    return wall, cpu


def interleaved(fns: list, rows: list[np.ndarray], calls: int, rounds: int = 10) -> list[tuple[list[int], list[int]]]:
    """Time every function in `rounds` interleaved blocks, so load from other jobs falls on all of them alike."""
    for fn in fns:  # warm caches, LightGBM's lazy setup, numba's compilation
        time_calls(fn, rows, 20)
    out: list[tuple[list[int], list[int]]] = [([], []) for _ in fns]
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            wall, cpu = time_calls(fn, rows, per_round)
            out[k][0].extend(wall)
            out[k][1].extend(cpu)
    return out


def max_depth(booster: lgb.Booster) -> int:
    def depth(node: dict) -> int:
        if "leaf_index" in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))
    return max(depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"])


class Clock:
    """LightGBM callback: wall and process-CPU seconds since training began, at the given iteration counts.
    CPU seconds (all threads) are what a dedicated machine would bill; wall seconds include other jobs."""

    def __init__(self, marks: list[int]) -> None:
        self.marks, self.at = set(marks), {}
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        if env.iteration + 1 in self.marks:
            self.at[env.iteration + 1] = (time.perf_counter() - self.t0, time.process_time() - self.c0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trees", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--leaves", type=int, nargs="+", default=[15, 31, 63, 127])
    parser.add_argument("--negative-rate", type=float, default=0.25, help="share of training negatives kept")
    parser.add_argument("--threads", type=int, default=2, help="training threads (scoring is always 1)")
    parser.add_argument("--predict-calls", type=int, default=3000, help="timed one-row predict calls per model")
    parser.add_argument("--shap-calls", type=int, default=200, help="timed one-row pred_contrib calls per model")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/complexity.json")
    args = parser.parse_args()
    trees = sorted(args.trees)
    load_before = os.getloadavg()

    schema = paylink_schema()
    frame = generate_frame(args.rows, args.seed)
    split = split_months(schema, frame)
    pipe = pipeline_for(schema).fit(frame[split.train])
    X = pipe.transform(frame)
    y = frame[schema.label].to_numpy().astype(np.int8)
    tr = np.flatnonzero(split.train)[downsample(y[split.train], args.negative_rate, args.seed)]
    w = train_weights(schema, frame, split, tr)
    del frame
    Xv, yv, Xh, yh = X[split.valid], y[split.valid], X[split.hold], y[split.hold]
    rng = np.random.default_rng(args.seed)
    sample = [Xh[i:i + 1].copy() for i in rng.choice(len(Xh), 256, replace=False)]

    rows, models = [], []
    for leaves in args.leaves:
        params = {**PARAMS, "num_leaves": leaves, "num_threads": args.threads, "metric": "None"}
        t0 = time.perf_counter()
        train = lgb.Dataset(X[tr], y[tr], weight=w, categorical_feature=pipe.categorical_indices_,
                            free_raw_data=True)
        train.construct()
        construct = time.perf_counter() - t0
        clock = Clock(trees)  # started just before training
        full = lgb.train(params, train, num_boost_round=trees[-1], callbacks=[clock])
        for n in trees:
            model = lgb.Booster(model_str=full.model_to_string(num_iteration=n))
            s_val = model.predict(Xv, num_threads=args.threads)
            s_hold = model.predict(Xh, num_threads=args.threads)
            wall, cpu = clock.at[n]
            rows.append({"trees": n, "leaves": leaves, "max_depth": max_depth(model),
                         "valid_pr_auc": pr_auc(yv, s_val), "holdout_pr_auc": pr_auc(yh, s_hold),
                         "holdout_recall_at_p20": recall_at_precision(yh, s_hold, PRECISION_FLOOR),
                         "train_seconds": round(wall, 1), "train_cpu_seconds": round(cpu, 1),
                         "dataset_construct_seconds": round(construct, 1),
                         "model_text_kb": round(len(model.model_to_string()) / 1024, 1)})
            models.append(model)
            print(json.dumps({k: rows[-1][k] for k in ("trees", "leaves", "holdout_pr_auc", "train_seconds",
                                                        "train_cpu_seconds")}), file=sys.stderr)
        del full, train

    # One-row timings after all training, interleaved across the models.
    timings = {
        "predict_one_row": interleaved([lambda r, m=m: m.predict(r, num_threads=1) for m in models], sample,
                                       args.predict_calls),
        "treeshap_one_row": interleaved([lambda r, m=m: m.predict(r, num_threads=1, pred_contrib=True)
                                         for m in models], sample, args.shap_calls),
        "compiled_treeshap_one_row": interleaved([TreeExplainer(m).contributions for m in models], sample,
                                                 args.shap_calls * 5),
    }
    for k, row in enumerate(rows):
        for name, per_model in timings.items():
            wall, cpu = per_model[k]
            row[name] = {"wall": percentiles_us(wall), "cpu": percentiles_us(cpu)}
        print(json.dumps({"trees": row["trees"], "leaves": row["leaves"],
                          **{n: row[n]["cpu"]["p50_us"] for n in timings}}), file=sys.stderr)

    best = max(rows, key=lambda r: r["valid_pr_auc"])
    report = {
        "benchmark": "complexity", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "command": "nice -n 10 python benchmarks/complexity.py " + " ".join(sys.argv[1:]),
        "rows": args.rows, "seed": args.seed, "split_months": split.months, "train_rows": int(len(tr)),
        "holdout_rows": int(len(yh)), "holdout_positives": int(yh.sum()), "features_out": pipe.n_features_out_,
        "model": {"params": PARAMS, "negative_rate": args.negative_rate, "training_threads": args.threads,
                  "scoring_threads": 1, "early_stopping": None,
                  "pipeline": "fraudcore.train.make_pipeline(config/train.toml)"},
        "peak_rss_mb": peak_rss_mb(), "results": rows,
        "best_on_validation": {"trees": best["trees"], "leaves": best["leaves"]},
    }
    publish(report, "complexity.json", args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
