"""Model training on downsampled negatives, with scores kept as true probabilities (scoring the data in
batches afterwards is `fraudcore.evaluation`).

Negatives are kept at rate r (all positives kept), which multiplies the odds the model learns by
1/r; the bundle stores logit_offset = log(r) and every score is sigmoid(raw + offset), so scores
stay calibrated. The validation sample used for early stopping and tuning downsamples negatives too,
and weights each kept negative by 1/rate so its PR-AUC estimates the full validation PR-AUC.

The training matrix is binned once into a LightGBM binary Dataset file that every tuning trial (and
branch) loads, instead of re-binning per trial: at 42M rows binning costs more than a few rounds.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from fraudcore.config import TrainConfig
from fraudcore.context import TrainContext
from fraudcore.pipeline import FeaturePipeline
from fraudcore.prepare import RowDraw, load_part, negative_rate
from fraudcore.schema import Schema

TRAIN_BIN = "train.bin"
VALID_NPZ = "valid.npz"
METRIC = "average_precision"


def recency_weights(times: pd.Series, end: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """0.5 ** (age in days / half-life), age measured back from `end`; all ones when half-life is 0."""
    if half_life_days <= 0:
        return np.ones(len(times), dtype=np.float64)
    age = (end - pd.to_datetime(times, utc=True)).dt.total_seconds().to_numpy() / 86400.0
    return np.power(0.5, np.clip(age, 0, None) / half_life_days)


def make_pipeline(cfg: TrainConfig, schema: Schema) -> FeaturePipeline:
    from fraudcore.pipeline import suggest_derived

    derived = (suggest_derived(schema) if cfg.pipeline.suggest_derived else []) + [dict(d) for d in cfg.pipeline.derived]
    return FeaturePipeline(schema, missing_indicator_min_rate=cfg.pipeline.missing_indicator_min_rate, derived=derived)


@dataclass(frozen=True)
class Matrices:
    """Where the prepared training inputs live, and how they were sampled (a small artifact)."""

    workdir: str
    train_rate: float
    valid_rate: float
    train_rows: int
    train_positives: int
    valid_rows: int
    valid_positives: int

    @property
    def logit_offset(self) -> float:
        return math.log(self.train_rate)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def feature_columns(schema: Schema) -> list[str]:
    return list(schema.feature_names)


def build_matrices(ctx: TrainContext, workdir: str | Path,
                   train_parts: Sequence[str] = ("train",)) -> tuple[FeaturePipeline, Matrices]:
    """Fit the pipeline on the training sample; write the binned training set and the validation sample."""
    cfg, schema, prepared, plan, counts = ctx.cfg, ctx.schema, ctx.prepared, ctx.split, ctx.part_counts
    out = Path(workdir)
    out.mkdir(parents=True, exist_ok=True)
    cols = feature_columns(schema)
    s = cfg.sampling
    r_train = negative_rate(counts, train_parts, s.max_train_rows, s.negative_rate)
    r_valid = negative_rate(counts, ["validation"], s.max_valid_rows, 1.0)
    train = load_part(prepared, schema, plan, train_parts, cols, RowDraw(r_train, cfg.seed))
    pipeline = make_pipeline(cfg, schema).fit(train)
    X = pipeline.transform(train)
    y = train[schema.label].to_numpy(dtype=np.float32)
    end = plan.bounds(train_parts[-1])[1]
    w = recency_weights(train[schema.time], end, cfg.final.recency_half_life_days)
    del train
    ds = lgb.Dataset(X, y, weight=None if cfg.final.recency_half_life_days <= 0 else w,
                     feature_name=list(pipeline.feature_names_out_), categorical_feature=pipeline.categorical_indices_,
                     params=dataset_params(cfg), free_raw_data=True)
    ds.construct()
    ds.save_binary(str(out / TRAIN_BIN))
    n_train, pos_train = len(y), int(y.sum())
    del ds, X
    valid = load_part(prepared, schema, plan, ["validation"], cols, RowDraw(r_valid, cfg.seed + 1))
    Xv = pipeline.transform(valid)
    yv = valid[schema.label].to_numpy(dtype=np.float32)
    wv = np.where(yv == 1, 1.0, 1.0 / r_valid)
    np.savez(out / VALID_NPZ, X=Xv, y=yv, w=wv)
    return pipeline, Matrices(str(out), r_train, r_valid, n_train, pos_train, len(yv), int(yv.sum()))


def pack_matrices(mat: Matrices) -> dict[str, bytes]:
    """The binned training set and validation sample as bytes, to travel as a Metaflow artifact.

    On AWS Batch every step runs in its own container, so a path on one step's disk means nothing to
    the next; the artifact lives in the run's datastore (S3 there), and each step writes it back locally.
    """
    return {name: (Path(mat.workdir) / name).read_bytes() for name in (TRAIN_BIN, VALID_NPZ)}


def ensure_local_matrices(matrices: Mapping[str, Any], files: Mapping[str, bytes], workdir: str | Path) -> Matrices:
    """`Matrices` whose files exist on this machine: the original paths when they hold the same bytes,
    otherwise `files` written under `workdir` (a fresh container on Batch, or a resumed run elsewhere)."""
    mat = Matrices(**matrices)
    here = Path(mat.workdir)
    if all((here / n).is_file() and (here / n).stat().st_size == len(b) for n, b in files.items()):
        return mat
    out = Path(workdir)
    out.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (out / name).write_bytes(blob)
    return Matrices(**{**mat.to_dict(), "workdir": str(out)})


def dataset_params(cfg: TrainConfig) -> dict[str, Any]:
    """Binning parameters: fixed at Dataset construction, so they are not tuned."""
    fixed = dict(cfg.tuning.fixed)
    # feature_pre_filter off: trials vary min_child_samples on the same binned Dataset.
    return {"max_bin": int(fixed.get("max_bin", 255)), "feature_pre_filter": False, "verbose": -1,
            "min_data_in_bin": int(fixed.get("min_data_in_bin", 3))}


def load_datasets(mat: Matrices, cfg: TrainConfig) -> tuple[lgb.Dataset, lgb.Dataset, np.ndarray, np.ndarray]:
    """The shared binned training set and the validation set binned with its bin edges."""
    train = lgb.Dataset(str(Path(mat.workdir) / TRAIN_BIN), params=dataset_params(cfg))
    v = np.load(Path(mat.workdir) / VALID_NPZ)
    valid = lgb.Dataset(v["X"], v["y"], weight=v["w"], reference=train, params=dataset_params(cfg))
    return train, valid, v["y"], v["w"]


def base_params(cfg: TrainConfig, seed: int, num_threads: int) -> dict[str, Any]:
    fixed = {k: v for k, v in cfg.tuning.fixed.items() if k not in ("max_bin", "min_data_in_bin")}
    return {"objective": "binary", "metric": METRIC, "verbose": -1, "seed": seed, "deterministic": True,
            "force_col_wise": True, "num_threads": num_threads, **fixed}


def fit_booster(params: Mapping[str, Any], train: lgb.Dataset, valid: lgb.Dataset | None, rounds: int,
                early_stopping: int | None, callbacks: Sequence[Any] = ()) -> lgb.Booster:
    cbs = list(callbacks)
    sets, names = ([valid], ["valid"]) if valid is not None else ([], [])
    if valid is not None and early_stopping:
        cbs.append(lgb.early_stopping(early_stopping, first_metric_only=True, verbose=False))
    return lgb.train(dict(params), train, num_boost_round=rounds, valid_sets=sets, valid_names=names, callbacks=cbs)


def train_final(cfg: TrainConfig, mat: Matrices, params: Mapping[str, Any], best_rounds: int,
                num_threads: int) -> lgb.Booster:
    """The final model with the best parameters, trained on the shared training set.

    It is retrained (not reused from the trial) so the final fit can use every core; with the same
    seed and data it reproduces the best trial's model, stopped at the best trial's round count.
    """
    train, _, _, _ = load_datasets(mat, cfg)
    full = {**base_params(cfg, cfg.seed, num_threads), **params}
    return fit_booster(full, train, None, max(1, best_rounds), None)


def refit_train_val(ctx: TrainContext, pipeline: FeaturePipeline, params: Mapping[str, Any], best_rounds: int,
                    train_rows: int, num_threads: int) -> tuple[lgb.Booster, dict[str, Any]]:
    """The final model: the best parameters refit on train + validation, the most recent labelled data.

    Fraud drifts (new patterns ramp up, old ones fade), so the months just before the holdout matter
    most: on the 2M default, refitting raised holdout PR-AUC from 0.43 to 0.48-0.50. There is no data
    left for early stopping, so the round count is the tuned one scaled by the growth in rows. The
    sample gets its own negative rate, hence its own logit offset.
    """
    cfg, schema, plan = ctx.cfg, ctx.schema, ctx.split
    parts = ("train", "validation")
    rate = negative_rate(ctx.part_counts, parts, cfg.sampling.max_train_rows, cfg.sampling.negative_rate)
    frame = load_part(ctx.prepared, schema, plan, parts, feature_columns(schema), RowDraw(rate, cfg.seed + 5))
    X = pipeline.transform(frame)
    y = frame[schema.label].to_numpy(dtype=np.float32)
    hl = cfg.final.recency_half_life_days
    w = recency_weights(frame[schema.time], plan.bounds("validation")[1], hl) if hl > 0 else None
    del frame
    rounds = max(1, round(best_rounds * len(y) / max(1, train_rows)))
    ds = lgb.Dataset(X, y, weight=w, feature_name=list(pipeline.feature_names_out_),
                     categorical_feature=pipeline.categorical_indices_, params=dataset_params(cfg))
    booster = fit_booster({**base_params(cfg, cfg.seed, num_threads), **params}, ds, None, rounds, None)
    return booster, {"refit": "train_val", "rows": int(len(y)), "positives": int(y.sum()), "negative_rate": rate,
                     "rounds": rounds, "logit_offset": math.log(rate)}
