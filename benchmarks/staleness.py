"""What a day-stale feature store costs: holdout PR-AUC with fresh vs day-stale velocity counters.

The generator can serve the seven velocity counters (transactions_24h, transactions_7d, amount_24h,
declines_7d, distinct_merchants_7d, failed_logins_24h, ip_velocity) as a daily batch job would:
yesterday's values, blind to today's burst, while the labels still follow the fresh values
(`GeneratorSpec(stale_velocity=True)`). Both datasets come from the same seed, so they hold the same
transactions with the same labels; only those columns differ. A third variant streams only the 24-hour
counters (fresh) and takes the 7-day ones from the daily batch: the hybrid design in docs/tradeoffs.md.
A fourth, `trained_fresh_served_stale`, trains nothing: it scores the stale holdout with the fresh model at
the fresh model's validation threshold, which is training/serving skew (training recomputes counters from
history, serving reads a daily store).

Every variant gets the same model: TrainFlow's feature pipeline (config/train.toml), LightGBM with the
parameters TrainFlow's tuning chose on this data (below, held fixed), negatives downsampled for training,
TrainFlow's recency weights (half-life from config/train.toml), early stopping on validation PR-AUC. Split
as TrainFlow's default: last 3 months holdout, the 3 before validation, the rest train. Prints JSON; with
--save, writes benchmarks/results/staleness.json with the date and machine.

    nice -n 10 python benchmarks/staleness.py --rows 2000000 --save
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from fraudcore.config import TuningConfig, load_train_config
from fraudcore.metrics import at_threshold, best_threshold_at_precision, pr_auc, recall_at_precision, roc_auc
from fraudcore.pipeline import FeaturePipeline
from fraudcore.schema import Schema, paylink_schema
from fraudcore.synth import GeneratorSpec, generate_frame
from fraudcore.train import make_pipeline, recency_weights

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_CONFIG = RESULTS.parent.parent / "config" / "train.toml"
VELOCITY = ("transactions_24h", "transactions_7d", "amount_24h", "declines_7d", "distinct_merchants_7d",
            "failed_logins_24h", "ip_velocity")
STREAMED_24H = ("transactions_24h", "amount_24h", "failed_logins_24h", "ip_velocity")
PRECISION_FLOOR = 0.20
# TrainFlow's tuned settings on the 2M-row default (run 1795885795676178 of benchmarks/train_scale.py: holdout
# PR-AUC 0.489, 137 rounds), plus TrainFlow's fixed LightGBM settings (fraudcore.config.TuningConfig.fixed),
# held constant so that only the features (here) or the size (complexity.py) differ between variants.
TUNED: dict[str, Any] = {
    "learning_rate": 0.033314987363635876, "num_leaves": 127, "min_child_samples": 300,
    "feature_fraction": 0.9516767881107016, "bagging_fraction": 0.8374652282993336,
    "lambda_l2": 0.01232376365667085, "cat_smooth": 1.3833297260235264,
}
PARAMS: dict[str, Any] = {
    "objective": "binary", **TUNED,
    **{k: v for k, v in TuningConfig().fixed.items() if k not in ("max_bin", "min_data_in_bin")},
    "metric": "average_precision", "verbosity": -1, "seed": 0, "deterministic": True, "force_row_wise": True,
}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "lightgbm": lgb.__version__, "numpy": np.__version__}


def train_weights(schema: Schema, frame: pd.DataFrame, split: Split, rows: np.ndarray) -> np.ndarray:
    """TrainFlow's recency weights for the given training rows: 0.5 ** (age / half-life) back from the
    end of the training period (config/train.toml [final] recency_half_life_days)."""
    end = pd.Timestamp(split.months["validation"][0] + "-01", tz="UTC")
    half_life = load_train_config(TRAIN_CONFIG).final.recency_half_life_days
    return recency_weights(frame[schema.time].iloc[rows], end, half_life)


def pipeline_for(schema: Schema) -> FeaturePipeline:
    """TrainFlow's own (unfitted) feature pipeline: the derived features declared in config/train.toml."""
    return make_pipeline(load_train_config(TRAIN_CONFIG), schema)


def publish(report: dict[str, Any], name: str, save: bool) -> None:
    """Print the report as JSON; with `save`, also write it to benchmarks/results/<name>."""
    text = json.dumps(report, indent=2)
    print(text)
    if save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / name).write_text(text + "\n")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass
class Split:
    """Row masks for an out-of-time split: the last `holdout` months, the `validation` months before."""

    train: np.ndarray
    valid: np.ndarray
    hold: np.ndarray
    months: dict[str, list[str]]


def split_months(schema: Schema, frame: pd.DataFrame, validation: int = 3, holdout: int = 3) -> Split:
    month = frame[schema.time].dt.strftime("%Y-%m").to_numpy()
    ordered = sorted(set(month))
    if len(ordered) <= validation + holdout:
        raise ValueError(f"need more than {validation + holdout} months; got {len(ordered)}")
    v0, h0 = ordered[-(validation + holdout)], ordered[-holdout]
    train, hold = month < v0, month >= h0
    return Split(train, ~train & ~hold, hold, {"train": ordered[:-(validation + holdout)],
                                               "validation": ordered[-(validation + holdout):-holdout],
                                               "holdout": ordered[-holdout:]})


def downsample(y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Indices of all positives and a `rate` share of negatives. Ranking metrics are unaffected by the
    constant logit shift this causes, so no correction is needed for PR-AUC or recall at a precision."""
    rng = np.random.default_rng(seed)
    keep = (y == 1) | (rng.random(len(y)) < rate)
    return np.flatnonzero(keep)


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, Xv: np.ndarray, yv: np.ndarray, categorical: list[int],
        params: dict[str, Any], rounds: int, early_stop: int | None, threads: int,
        callbacks: list | None = None) -> tuple[lgb.Booster, float]:
    p = {**params, "num_threads": threads}
    train = lgb.Dataset(X, y, weight=w, categorical_feature=categorical, free_raw_data=True)
    valid = lgb.Dataset(Xv, yv, reference=train, categorical_feature=categorical)
    cbs = list(callbacks or [])
    if early_stop:
        cbs.append(lgb.early_stopping(early_stop, verbose=False))
    t0 = time.perf_counter()
    booster = lgb.train(p, train, num_boost_round=rounds, valid_sets=[valid], callbacks=cbs)
    return booster, time.perf_counter() - t0


def holdout_metrics(y_val: np.ndarray, s_val: np.ndarray, y_hold: np.ndarray, s_hold: np.ndarray) -> dict[str, Any]:
    """Headline holdout figures, plus the operating point chosen on validation applied to the holdout."""
    out: dict[str, Any] = {"pr_auc": pr_auc(y_hold, s_hold), "roc_auc": roc_auc(y_hold, s_hold),
                           f"recall_at_p{int(PRECISION_FLOOR * 100)}": recall_at_precision(y_hold, s_hold,
                                                                                         PRECISION_FLOOR)}
    chosen = best_threshold_at_precision(y_val, s_val, PRECISION_FLOOR)
    if chosen is not None:
        op = at_threshold(y_hold, s_hold, chosen[0])
        out["at_validation_threshold"] = {k: op[k] for k in ("threshold", "precision", "recall", "alert_rate")}
    return out


def run_variant(name: str, frame: pd.DataFrame, schema: Schema, split: Split, args: argparse.Namespace,
                burst: np.ndarray) -> tuple[dict, np.ndarray, lgb.Booster, FeaturePipeline]:
    """Train and evaluate one variant; also returns its holdout scores (for the paired bootstrap), the
    model and the fitted pipeline (to score another variant's features with it: training/serving skew)."""
    pipe = pipeline_for(schema).fit(frame[split.train])
    y = frame[schema.label].to_numpy().astype(np.int8)
    X = pipe.transform(frame)
    tr = np.flatnonzero(split.train)[downsample(y[split.train], args.negative_rate, args.seed)]
    booster, seconds = fit(X[tr], y[tr], train_weights(schema, frame, split, tr), X[split.valid], y[split.valid],
                           pipe.categorical_indices_, PARAMS,
                           args.max_rounds, args.early_stopping, args.threads)
    s_val = booster.predict(X[split.valid], num_threads=args.threads)
    s_hold = booster.predict(X[split.hold], num_threads=args.threads)
    gain = booster.feature_importance("gain")
    share = gain / gain.sum()
    names = pipe.feature_names_out_
    velocity_share = float(sum(share[i] for i, src in enumerate(pipe.source_fields_) if src in VELOCITY))
    top = np.argsort(-share)[:8]
    metrics = holdout_metrics(y[split.valid], s_val, y[split.hold], s_hold)
    y_hold = y[split.hold]
    burst_frauds = burst & (y_hold == 1)
    if "at_validation_threshold" in metrics:
        caught = s_hold[burst_frauds] >= metrics["at_validation_threshold"]["threshold"]
        metrics["at_validation_threshold"]["recall_on_burst_frauds"] = float(caught.mean()) if caught.size else None
    rounds = int(booster.best_iteration or booster.current_iteration())
    result = {"variant": name, "train_rows": int(len(tr)), "rounds": rounds,
              "train_seconds": round(seconds, 1), **metrics,
              "velocity_gain_share": round(velocity_share, 4),
              "top_features_by_gain": [[names[i], round(float(share[i]), 4)] for i in top]}
    print(json.dumps({k: result[k] for k in ("variant", "pr_auc", "recall_at_p20", "rounds", "train_seconds")}),
          file=sys.stderr)
    return result, s_hold, booster, pipe


def skew_metrics(booster: lgb.Booster, pipe: FeaturePipeline, served: pd.DataFrame, y_hold: np.ndarray,
                 threshold: float, burst: np.ndarray) -> tuple[dict, np.ndarray]:
    """The model trained (and thresholded) on fresh features, scored on day-stale ones: what happens when
    training reads counters recomputed from history but serving reads a daily batch store."""
    s = booster.predict(pipe.transform(served), num_threads=2)
    op = at_threshold(y_hold, s, threshold)
    caught = s[burst & (y_hold == 1)] >= threshold
    return {"variant": "trained_fresh_served_stale", "pr_auc": pr_auc(y_hold, s), "roc_auc": roc_auc(y_hold, s),
            "recall_at_p20": recall_at_precision(y_hold, s, PRECISION_FLOOR),
            "at_validation_threshold": {**{k: op[k] for k in ("threshold", "precision", "recall", "alert_rate")},
                                        "recall_on_burst_frauds": float(caught.mean()) if caught.size else None},
            "note": "no training of its own: the fresh model and its validation threshold"}, s


def paired_bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, n: int, seed: int) -> dict[str, float]:
    """PR-AUC(a) - PR-AUC(b) on the same resampled holdout rows: its 95% interval says whether the
    difference is more than the noise of a few thousand positives."""
    rng = np.random.default_rng(seed)
    diffs = np.empty(n)
    for i in range(n):
        idx = rng.integers(0, len(y), len(y))
        diffs[i] = pr_auc(y[idx], a[idx]) - pr_auc(y[idx], b[idx])
    return {"mean": float(diffs.mean()), "ci95_low": float(np.quantile(diffs, 0.025)),
            "ci95_high": float(np.quantile(diffs, 0.975)), "resamples": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7, help="generator seed, the same for every variant")
    parser.add_argument("--negative-rate", type=float, default=0.25, help="share of training negatives kept")
    parser.add_argument("--max-rounds", type=int, default=1000)
    parser.add_argument("--early-stopping", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=200, help="paired bootstrap resamples of the holdout")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/staleness.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    schema = paylink_schema()
    t0 = time.perf_counter()
    fresh = generate_frame(args.rows, args.seed)
    stale = generate_frame(args.rows, args.seed, spec=GeneratorSpec(stale_velocity=True))
    gen_seconds = time.perf_counter() - t0
    for col in (schema.id, schema.time, schema.label):
        if not fresh[col].equals(stale[col]):
            raise RuntimeError(f"fresh and stale data differ in {col!r}: the comparison needs the same rows")
    changed = {c: float((fresh[c].to_numpy() != stale[c].to_numpy()).mean()) for c in VELOCITY}
    split = split_months(schema, fresh)
    y = fresh[schema.label].to_numpy()
    oracle = fresh[schema.oracle].to_numpy()
    # Holdout rows where the daily batch would serve different values than a stream: today's bursts.
    burst = np.zeros(len(fresh), dtype=bool)
    for c in VELOCITY:
        burst |= fresh[c].to_numpy() != stale[c].to_numpy()
    burst_hold = burst[split.hold]
    hybrid = stale.copy()
    for c in STREAMED_24H:
        hybrid[c] = fresh[c]

    variants, scores, models = [], {}, {}
    for name, frame in (("fresh", fresh), ("hybrid_24h_streamed", hybrid), ("stale_1d", stale)):
        result, scores[name], *models[name] = run_variant(name, frame, schema, split, args, burst_hold)
        variants.append(result)
    y_hold = y[split.hold]
    fresh_threshold = variants[0]["at_validation_threshold"]["threshold"]
    skew, scores["trained_fresh_served_stale"] = skew_metrics(*models["fresh"], stale[split.hold], y_hold,
                                                              fresh_threshold, burst_hold)
    variants.append(skew)
    del fresh, hybrid, stale
    by = {v["variant"]: v for v in variants}
    report = {
        "benchmark": "staleness", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "machine": machine(), "command": "nice -n 10 python benchmarks/staleness.py " + " ".join(sys.argv[1:]),
        "rows": args.rows, "seed": args.seed, "split_months": split.months,
        "holdout_rows": int(split.hold.sum()), "holdout_positives": int(y_hold.sum()),
        "holdout_burst_rows": int(burst_hold.sum()), "holdout_burst_frauds": int((burst_hold & (y_hold == 1)).sum()),
        "oracle_holdout_pr_auc": pr_auc(y[split.hold], oracle[split.hold]),
        "velocity_features": list(VELOCITY), "streamed_in_hybrid": list(STREAMED_24H),
        "share_of_rows_changed_by_staleness": changed,
        "model": {"params": PARAMS, "negative_rate": args.negative_rate, "max_rounds": args.max_rounds,
                  "early_stopping_rounds": args.early_stopping,
                  "pipeline": "fraudcore.train.make_pipeline(config/train.toml)",
                  "recency_half_life_days": load_train_config(TRAIN_CONFIG).final.recency_half_life_days},
        "generate_seconds": round(gen_seconds, 1), "peak_rss_mb": peak_rss_mb(),
        "variants": variants,
        "cost_of_staleness": {
            "pr_auc_drop": by["fresh"]["pr_auc"] - by["stale_1d"]["pr_auc"],
            "recall_at_p20_drop": by["fresh"]["recall_at_p20"] - by["stale_1d"]["recall_at_p20"],
            "pr_auc_drop_hybrid": by["fresh"]["pr_auc"] - by["hybrid_24h_streamed"]["pr_auc"],
            "recall_at_p20_drop_hybrid": by["fresh"]["recall_at_p20"] - by["hybrid_24h_streamed"]["recall_at_p20"],
            "pr_auc_fresh_minus_stale_bootstrap": paired_bootstrap(y_hold, scores["fresh"], scores["stale_1d"],
                                                                   args.bootstrap, args.seed),
            "pr_auc_drop_skew": by["fresh"]["pr_auc"] - by["trained_fresh_served_stale"]["pr_auc"],
            "pr_auc_fresh_minus_skew_bootstrap": paired_bootstrap(y_hold, scores["fresh"],
                                                                  scores["trained_fresh_served_stale"],
                                                                  args.bootstrap, args.seed),
            "pr_auc_fresh_minus_hybrid_bootstrap": paired_bootstrap(y_hold, scores["fresh"],
                                                                    scores["hybrid_24h_streamed"], args.bootstrap,
                                                                    args.seed),
        },
    }
    publish(report, "staleness.json", args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
