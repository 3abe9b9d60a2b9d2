"""A small, real model bundle for the monitoring demo and tests, built from fraudcore's own pieces.

The monitor needs a bundle with a reference profile and holdout metrics. When no TrainFlow champion
exists (a fresh checkout, a test session), this trains one on generator data in a few seconds, through
the same pipeline, threshold choice, profile and bundle writer that training uses. It is deliberately
small (few trees, few rows): it exists to give the monitor something genuine to watch, not to win.
"""
from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from fraudcore.bundle import BundleRecord, ModelParts, predict_scores, write_bundle
from fraudcore.metrics import evaluate
from fraudcore.pipeline import FeaturePipeline
from fraudcore.profile import ProfileBinning, build_profile
from fraudcore.schema import paylink_schema
from fraudcore.synth import GeneratorSpec, generate_frame
from fraudcore.thresholds import choose_thresholds

# Out-of-time split of the 18 generated months: train on the first 12, choose thresholds on the next 3,
# report on the last 3 (the holdout), as TrainFlow does.
TRAIN_MONTHS, VALIDATION_MONTHS = 12, 3


def train_small_bundle(out_dir: str | Path, *, rows: int = 60_000, seed: int = 7, rounds: int = 120,
                       spec: GeneratorSpec | None = None, run_id: str = "demo") -> Path:
    """Generate `rows` PayLink transactions with `seed`, train a small LightGBM and write a bundle to `out_dir`."""
    spec = spec or GeneratorSpec()
    schema = paylink_schema()
    frame = generate_frame(rows, seed, spec, schema)
    month = frame[schema.time].dt.year * 12 + frame[schema.time].dt.month
    index = (month - month.min()).to_numpy()
    train = frame[index < TRAIN_MONTHS]
    val = frame[(index >= TRAIN_MONTHS) & (index < TRAIN_MONTHS + VALIDATION_MONTHS)]
    hold = frame[index >= TRAIN_MONTHS + VALIDATION_MONTHS]
    pipeline = FeaturePipeline(schema).fit(train)
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
              "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
              "num_threads": 1, "seed": seed, "verbose": -1, "deterministic": True}
    y = schema.label
    data = lgb.Dataset(pipeline.transform(train), train[y].to_numpy(),
                       categorical_feature=pipeline.categorical_indices_, free_raw_data=False)
    booster = lgb.train(params, data, num_boost_round=rounds)
    s_val = predict_scores(booster, pipeline.transform(val))
    s_hold = predict_scores(booster, pipeline.transform(hold))
    s_train = predict_scores(booster, pipeline.transform(train))
    thresholds = choose_thresholds(val[y].to_numpy(), s_val)
    # The reference is the most recent pre-deployment data the model was judged on (validation + holdout),
    # i.e. what live traffic should look like if nothing changed.
    ref = frame[index >= TRAIN_MONTHS]
    profile = build_profile(ref, np.concatenate([s_val, s_hold]), schema=schema, review_threshold=thresholds.review,
                            binning=ProfileBinning(seed=seed))
    holdout = evaluate(hold[y].to_numpy(), s_hold, thresholds.review)
    validation = evaluate(val[y].to_numpy(), s_val, thresholds.review)
    for m in (holdout, validation):
        m.pop("pr_curve", None)
    metrics = {"holdout": holdout, "validation": validation,
               "train": {"pr_auc": evaluate(train[y].to_numpy(), s_train, thresholds.review)["pr_auc"]}}
    return write_bundle(out_dir, ModelParts(booster, pipeline, thresholds, schema),
                        BundleRecord(run_id, profile, metrics,
                                     config={"rows": rows, "seed": seed, "rounds": rounds, "params": params},
                                     data_fingerprint={"generator": {"rows": rows, "seed": seed}},
                                     flow="monitoring-demo"))
