"""Weekly walk-forward backtest: how close the model comes to the oracle the way production runs it.

The static holdout scores one model, trained on labels that were all known at the end of the data, on
three months it never saw. Production is different: every week the model is retrained on what was
labelled *by then* (chargebacks arrive over weeks, so the most recent fraud still looks legitimate) and
scores the next week. This module replays that: for each of the last `weeks` weeks it fits on the rows
before the week's start, with each row's label as known at that instant (`known_at < cutoff`), and scores
the week with the final labels. The oracle (the generator's true P(label | features, date)) is scored on
the same rows, so the ratio model/oracle is the share of the achievable PR-AUC the weekly process
reaches.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fraudcore import metrics as M

if TYPE_CHECKING:
    from fraudcore.context import TrainContext

# fit(train frame, labels as known at the cutoff) -> score(frame) -> probabilities
Fitter = Callable[[pd.DataFrame, np.ndarray], Callable[[pd.DataFrame], np.ndarray]]
WEEK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class WalkForwardPlan:
    """Which weeks to replay: the last `weeks` whole weeks before `end`, each trained on `train_days`."""

    weeks: int
    train_days: int
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if self.weeks < 1:
            raise ValueError(f"walk-forward 'weeks' must be an int >= 1; got {self.weeks}")
        if self.train_days < 7:
            raise ValueError(f"walk-forward 'train_days' must be an int >= 7; got {self.train_days}")

    def cutoffs(self) -> list[pd.Timestamp]:
        first = self.end - self.weeks * WEEK
        return [first + i * WEEK for i in range(self.weeks)]


@dataclass(frozen=True)
class WeekResult:
    cutoff: str
    rows: int
    positives: int
    train_rows: int
    train_positives_known: int
    train_positives_final: int
    model_pr_auc: float
    oracle_pr_auc: float

    @property
    def ratio(self) -> float:
        return self.model_pr_auc / self.oracle_pr_auc if self.oracle_pr_auc > 0 else float("nan")


@dataclass(frozen=True)
class WalkForwardResult:
    weeks: tuple[WeekResult, ...]
    pooled_model_pr_auc: float
    pooled_oracle_pr_auc: float
    skipped: tuple[str, ...] = ()      # weeks with no fraud known for training or none to score

    @property
    def pooled_ratio(self) -> float:
        return self.pooled_model_pr_auc / self.pooled_oracle_pr_auc if self.weeks else float("nan")

    @property
    def median_weekly_ratio(self) -> float:
        return float(np.nanmedian([w.ratio for w in self.weeks])) if self.weeks else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"weeks": [{**asdict(w), "ratio": w.ratio} for w in self.weeks],
                "pooled_model_pr_auc": self.pooled_model_pr_auc,
                "pooled_oracle_pr_auc": self.pooled_oracle_pr_auc,
                "pooled_ratio": self.pooled_ratio, "median_weekly_ratio": self.median_weekly_ratio,
                "skipped": list(self.skipped)}


def labels_known_by(is_fraud: np.ndarray, known_at: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """The label a row carried at `cutoff`: fraud only once its chargeback or review was known."""
    known = pd.to_datetime(known_at).to_numpy()
    seen = ~np.isnat(known) & (known < np.datetime64(cutoff.tz_localize(None) if cutoff.tzinfo else cutoff))
    return ((np.asarray(is_fraud) == 1) & seen).astype(np.int8)


def walk_forward(frame: pd.DataFrame, fit: Fitter, plan: WalkForwardPlan,
                 columns: Sequence[str] = ("event_time", "is_fraud", "label_known_at", "fraud_probability"),
                 progress: Callable[[int, WeekResult], None] | None = None) -> WalkForwardResult:
    """Replay the plan's weeks. `columns` names time, final label, label-known time and oracle columns."""
    time_col, label_col, known_col, oracle_col = columns
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"walk-forward needs columns {list(columns)}; missing {missing}")
    times = pd.to_datetime(frame[time_col])
    results, model_all, oracle_all, y_all, skipped = [], [], [], [], []
    for i, cutoff in enumerate(plan.cutoffs()):
        cut = cutoff.tz_localize(None) if cutoff.tzinfo else cutoff
        train_mask = ((times >= cut - pd.Timedelta(days=plan.train_days)) & (times < cut)).to_numpy()
        test_mask = ((times >= cut) & (times < cut + WEEK)).to_numpy()
        train, test = frame.loc[train_mask], frame.loc[test_mask]
        y_known = labels_known_by(train[label_col].to_numpy(), train[known_col], cut)
        y_test = test[label_col].to_numpy()
        if y_known.sum() == 0 or y_test.sum() == 0 or y_test.sum() == len(y_test):
            skipped.append(str(cut.date()))  # nothing to learn from or nothing to rank: no PR-AUC for the week
            continue
        scores = np.asarray(fit(train, y_known)(test), dtype=np.float64)
        oracle = test[oracle_col].to_numpy(dtype=np.float64)
        week = WeekResult(str(cut.date()), int(len(test)), int(y_test.sum()), int(len(train)), int(y_known.sum()),
                          int(train[label_col].sum()), M.pr_auc(y_test, scores), M.pr_auc(y_test, oracle))
        results.append(week)
        model_all.append(scores)
        oracle_all.append(oracle)
        y_all.append(y_test)
        if progress is not None:
            progress(i, week)
    if not results:  # tiny data: nothing to rank in any week; the result says so rather than failing the run
        return WalkForwardResult((), float("nan"), float("nan"), tuple(skipped))
    y = np.concatenate(y_all)
    return WalkForwardResult(tuple(results), M.pr_auc(y, np.concatenate(model_all)),
                             M.pr_auc(y, np.concatenate(oracle_all)), tuple(skipped))


def load_window(ctx: TrainContext, start: pd.Timestamp, rate: float) -> pd.DataFrame:
    """Rows with event time >= start: every fraud and every row of the scored weeks' span is read, and the
    rest of the training span's rows are kept at `rate` (a `_keep` column says which rows may train)."""
    from fraudcore.prepare import iter_batches

    schema = ctx.schema
    cols = list(dict.fromkeys([schema.id, schema.time, schema.label, *schema.feature_names,
                               *([schema.oracle] if schema.oracle else [])]))
    lo = start.tz_localize("UTC") if start.tzinfo is None else start
    parts = []
    for i, j, frame in iter_batches(ctx.prepared.files, cols):
        t = pd.to_datetime(frame[schema.time], utc=True)
        inside = (t >= lo).to_numpy()
        if not inside.any():
            continue
        frame = frame.loc[inside].copy()
        rng = np.random.default_rng([ctx.cfg.seed, 17, i, j])
        frame["_keep"] = rng.random(len(frame)) < rate
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def lightgbm_fitter(ctx: TrainContext, params: Mapping[str, Any], rounds_per_row: float, rate: float) -> Fitter:
    """Each week: the pipeline and LightGBM refit with the tuned parameters, negatives kept at `rate`
    (with the logit offset that keeps scores calibrated), rounds scaled to the rows as the final refit does."""
    import lightgbm as lgb

    from fraudcore.bundle import predict_scores
    from fraudcore.train import base_params, dataset_params, fit_booster, make_pipeline

    cfg, schema = ctx.cfg, ctx.schema

    def fit(train: pd.DataFrame, y_known: np.ndarray) -> Callable[[pd.DataFrame], np.ndarray]:
        keep = (y_known == 1) | train["_keep"].to_numpy()
        rows, y = train.loc[keep], y_known[keep].astype(np.float32)
        pipeline = make_pipeline(cfg, schema).fit(rows)
        ds = lgb.Dataset(pipeline.transform(rows), y, feature_name=list(pipeline.feature_names_out_),
                         categorical_feature=pipeline.categorical_indices_, params=dataset_params(cfg))
        rounds = max(1, round(rounds_per_row * len(y)))
        booster = fit_booster({**base_params(cfg, cfg.seed, cfg.final.num_threads), **params}, ds, None, rounds, None)
        offset = float(np.log(rate))
        return lambda test: predict_scores(booster, pipeline.transform(test), offset)

    return fit


def run_backtest(ctx: TrainContext, known_at: Callable[[np.ndarray], pd.Series], tuning: Mapping[str, Any],
                 matrices: Mapping[str, Any], progress: Callable[[int, WeekResult], None] | None = None
                 ) -> WalkForwardResult:
    """The configured walk-forward over the last weeks of the prepared data, with the run's tuned model."""
    schema, bt = ctx.schema, ctx.cfg.backtest
    end = pd.Timestamp(ctx.prepared.last_time)
    end = (end.tz_convert("UTC").tz_localize(None) if end.tzinfo else end).normalize() + pd.Timedelta(days=1)
    plan = WalkForwardPlan(bt.weeks, bt.train_days, end)
    start = plan.cutoffs()[0] - pd.Timedelta(days=bt.train_days)
    rate = float(matrices["train_rate"])
    frame = load_window(ctx, start, rate)
    frame[schema.time] = pd.to_datetime(frame[schema.time], utc=True).dt.tz_localize(None)
    frame["_known_at"] = known_at(frame[schema.id].to_numpy()).to_numpy()
    fit = lightgbm_fitter(ctx, tuning["best_params"], tuning["best_iteration"] / max(1, matrices["train_rows"]), rate)
    return walk_forward(frame, fit, plan, (schema.time, schema.label, "_known_at", schema.oracle), progress)
