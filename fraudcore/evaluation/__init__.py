"""Holdout evaluation: the numbers fraud operations judge a model by, with the yardsticks beside them.

Everything is computed with `fraudcore.metrics` so training, EvaluateFlow and monitoring agree. The
yardsticks: a logistic regression on the raw fields (the model must beat it clearly) and, on
synthetic data, the oracle, the true fraud probability the generator used (no model can beat it on
average, so model/oracle PR-AUC says how much signal is left on the table).

Models are judged on whole labelled windows scored in chunks (`score_window`), each by a `BatchScorer`:
raw rows in, calibrated probabilities out. (The one-request scorer of the service is
`fraudcore.serving.scoring.Scorer`.)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from fraudcore import metrics as M
from fraudcore.baseline import fit_logistic_baseline, score_logistic_baseline
from fraudcore.config import EvaluationConfig
from fraudcore.entity_metrics import entity_top_k
from fraudcore.explain import contributions, field_contributions, field_importance, group_importance, reason_codes
from fraudcore.bundle import ModelParts, predict_scores
from fraudcore.pipeline import FeaturePipeline, encode_category
from fraudcore.prepare import PreparedData, iter_batches
from fraudcore.schema import Schema
from fraudcore.thresholds import Thresholds


@dataclass(frozen=True)
class BatchScorer:
    """Scores a frame of raw rows: the columns it reads, and the function from those rows to probabilities."""

    columns: tuple[str, ...]
    score: Callable[[pd.DataFrame], np.ndarray]


def booster_scorer(booster: lgb.Booster, pipeline: FeaturePipeline, logit_offset: float) -> BatchScorer:
    """A scorer for `score_window`: raw rows in, calibrated probabilities out (as the bundle scores)."""
    return BatchScorer(tuple(map(str, pipeline.feature_names_in_)),
                       lambda frame: predict_scores(booster, pipeline.transform(frame), logit_offset))


def score_window(prepared: PreparedData, schema: Schema, window: tuple[Any, Any], scorers: Mapping[str, BatchScorer],
                 keep: Sequence[str] = (), chunk_rows: int = 1_000_000) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Score every row with start <= event time < end (`window`, e.g. `plan.bounds("holdout")`), chunk by
    chunk, with each named scorer.

    Returns ({scorer name: scores}, frame of the `keep`, time and label columns for those rows).
    Only the scores and the kept columns stay in memory, so a 7M-row holdout costs ~100 MB.
    """
    start, end = window
    lo = pd.Timestamp(start).tz_convert("UTC") if pd.Timestamp(start).tzinfo else pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end).tz_convert("UTC") if pd.Timestamp(end).tzinfo else pd.Timestamp(end, tz="UTC")
    small = list(dict.fromkeys([*keep, schema.time, schema.label]))
    cols = list(dict.fromkeys([c for sc in scorers.values() for c in sc.columns] + small))
    scores: dict[str, list[np.ndarray]] = {name: [] for name in scorers}
    kept = []
    for _, _, frame in iter_batches(prepared.files, cols, chunk_rows):
        t = pd.to_datetime(frame[schema.time], utc=True)
        mask = ((t >= lo) & (t < hi)).to_numpy()
        if not mask.any():
            continue
        part_frame = frame.loc[mask].reset_index(drop=True)
        for name, sc in scorers.items():
            scores[name].append(np.asarray(sc.score(part_frame), dtype=np.float64))
        kept.append(part_frame[small])
    if not kept:
        raise ValueError(f"no rows with {schema.time} in [{lo}, {hi}) in {prepared.source}")
    return {k: np.concatenate(v) for k, v in scores.items()}, pd.concat(kept, ignore_index=True)


@dataclass(frozen=True)
class EvaluationResult:
    """What TrainFlow's evaluate step learns about a model; the card and the bundle read its fields.

    Each field is plain data (dicts of numbers and lists; `explain` also holds arrays), so `to_dict()`
    is what Metaflow stores and `from_dict` reads it back.
    """

    holdout: dict[str, Any]  # fraudcore.metrics.evaluate on the holdout, with slices
    validation: dict[str, Any]  # the same on validation, scored by the train-only model
    baseline: dict[str, Any] | None  # the logistic regression yardstick on the holdout
    oracle: dict[str, Any] | None  # the generator's true probability, on synthetic data
    champion: dict[str, Any] | None  # the current champion on the same holdout rows, with its run_id
    comparison: list[dict[str, Any]]  # candidate minus champion, per headline metric
    gate: dict[str, Any]  # fraudcore.gate.GateResult.to_dict()
    explain: dict[str, Any]  # `explain_sample`
    profile: dict[str, Any]  # the drift reference profile
    headline: dict[str, Any]  # flat numbers for `fraud models list`
    score_sample: dict[str, list[float]]  # holdout scores by class, for the distribution plot
    parity: dict[str, Any]  # ids and in-flow scores a loaded bundle must reproduce
    data_profile: dict[str, Any]  # fraud rate per month and missing rate per field
    # each review rule ("precision", "alert_budget") on validation and holdout; {} without an alert budget
    rules: dict[str, Any] = dataclasses.field(default_factory=dict)
    entity: dict[str, Any] | None = None  # fraudcore.entity_metrics.entity_top_k on the holdout, with its field

    BUNDLE_METRICS = ("holdout", "validation", "baseline", "oracle", "champion", "gate", "headline", "rules", "entity")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        return cls(**data)

    def bundle_metrics(self) -> dict[str, Any]:
        """The part of the result the bundle keeps as `metrics.json`."""
        return {k: getattr(self, k) for k in self.BUNDLE_METRICS}


def slice_columns(cfg: EvaluationConfig) -> list[str]:
    return list(dict.fromkeys([*cfg.categorical_slices, *cfg.missing_slices, *(s.field for s in cfg.below_slices)]))


def slice_masks(cfg: EvaluationConfig, schema: Schema, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Named boolean masks: one per category value, one per "below" rule, one per missing-field rule."""
    out: dict[str, np.ndarray] = {}
    for name in cfg.categorical_slices:
        values = frame[name].astype("string")
        for cat in schema[name].categories or ():
            out[f"{name}={cat}"] = (values == cat).fillna(False).to_numpy(dtype=bool)
    for s in cfg.below_slices:
        v = frame[s.field].to_numpy(dtype=np.float64, na_value=np.nan)
        out[f"{s.name} ({s.field} < {s.below:g})"] = v < s.below
    for name in cfg.missing_slices:
        out[f"{name} missing"] = frame[name].isna().to_numpy()
    return out


def evaluate_scores(y: np.ndarray, scores: np.ndarray, thresholds: Thresholds, masks: Mapping[str, np.ndarray] | None
                    ) -> dict[str, Any]:
    return M.evaluate(y, scores, thresholds.review, slices=masks, precision_floor=thresholds.precision_floor)


def baseline_scorer(schema: Schema, train: pd.DataFrame, rate: float, seed: int, max_negatives: int) -> BatchScorer:
    """The logistic-regression yardstick, fit on the (downsampled) training sample.

    `fit_logistic_baseline` undoes its own downsampling; the sample's rate `rate` is undone here,
    the same correction the boosted model gets through its logit offset.
    """
    model = fit_logistic_baseline(schema, train, seed=seed, max_negatives=max_negatives)
    model.named_steps["lr"].intercept_ += np.log(rate)
    return BatchScorer(tuple(schema.feature_names), lambda frame: score_logistic_baseline(schema, model, frame))


def headline(holdout: Mapping[str, Any], validation: Mapping[str, Any], thresholds: Thresholds,
             oracle: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flat numbers for `fraud models list` and the registry (cheap to read: one small artifact)."""
    out = {"pr_auc": holdout["pr_auc"], "roc_auc": holdout["roc_auc"],
           "recall_at_p20": holdout["recall_at_precision"], "precision_floor": holdout["precision_floor"],
           "threshold": thresholds.review, "decline_threshold": thresholds.decline,
           "precision_at_threshold": holdout["precision_at_threshold"],
           "recall_at_threshold": holdout["recall_at_threshold"], "alert_rate": holdout["alert_rate"],
           "ece": holdout["calibration"]["ece"], "holdout_rows": holdout["n"], "holdout_positives": holdout["positives"],
           "val_pr_auc": validation["pr_auc"], "val_recall_at_p20": validation["recall_at_precision"]}
    if oracle is not None:
        out["oracle_pr_auc"] = oracle["pr_auc"]
        out["model_oracle_ratio"] = holdout["pr_auc"] / oracle["pr_auc"] if oracle["pr_auc"] else None
    if baseline is not None:
        out["lr_pr_auc"] = baseline["pr_auc"]
    return out


def extra_headline(rules: Mapping[str, Any], entity: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flat headline numbers of the alert-budget rule and the entity-level evaluation, when configured."""
    out: dict[str, Any] = {}
    budget = (rules.get("alert_budget") or {}).get("holdout")
    if budget:
        out.update(budget_threshold=budget["threshold"], budget_recall=budget["recall"],
                   budget_precision=budget["precision"], budget_alerts_per_day=budget["alerts_per_day"])
    if entity:
        out.update({f"entity_precision_at_{k}": p for k, p in zip(entity["k"], entity["precision_at_k"])})
    return out


def oracle_figures(y: np.ndarray, oracle: np.ndarray, floor: float) -> dict[str, Any]:
    return {"pr_auc": M.pr_auc(y, oracle), "roc_auc": M.roc_auc(y, oracle),
            "recall_at_precision": M.recall_at_precision(y, oracle, floor), "pr_curve": M.pr_curve(y, oracle)}


def explain_sample(model: ModelParts, sample: pd.DataFrame, scores: np.ndarray, examples: int) -> dict[str, Any]:
    """Global SHAP (per raw field and per group) on a sample, and reason codes for its `examples` highest
    scores at or above the review threshold.

    The beeswarm needs each field's value on a numeric scale: categories are their integer codes.
    """
    booster, pipeline, schema, thresholds = model.booster, model.pipeline, model.schema, model.thresholds
    X = pipeline.transform(sample)
    fc, fields = field_contributions(contributions(booster, X), pipeline)
    values = np.empty((len(sample), len(fields)), dtype=np.float64)
    for j, name in enumerate(fields):
        f = schema[name]
        if f.dtype == "category":
            cats = list(f.categories or ())
            values[:, j] = encode_category(sample[name], {c: i for i, c in enumerate(cats)}, len(cats), len(cats) + 1)
        else:
            values[:, j] = sample[name].to_numpy(dtype=np.float64, na_value=np.nan)
    flagged = np.argsort(-scores, kind="stable")[:examples]
    flagged = flagged[scores[flagged] >= thresholds.review]
    reasons = reason_codes(booster, pipeline, sample.iloc[flagged].reset_index(drop=True), k=3) if len(flagged) else []
    return {"fields": fields, "shap": fc.astype(np.float32), "values": values.astype(np.float32),
            "field_importance": field_importance(fc, fields), "group_importance": group_importance(fc, fields, schema),
            "examples": [{"score": float(scores[i]), "decision": "decline" if scores[i] >= thresholds.decline else "review",
                          "reasons": r} for i, r in zip(flagged, reasons)]}


def fraud_rate_by_month(months: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    return [{"month": m, "rows": c["rows"], "positives": c["positives"],
             "fraud_rate": c["positives"] / c["rows"] if c["rows"] else None} for m, c in months.items()]


def compare(candidate: Mapping[str, Any], champion: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Side-by-side headline numbers, candidate minus champion, for the card."""
    if champion is None:
        return []
    keys = ("pr_auc", "roc_auc", "recall_at_precision", "precision_at_threshold", "recall_at_threshold", "alert_rate")
    return [{"metric": k, "candidate": candidate.get(k), "champion": champion.get(k),
             "difference": None if candidate.get(k) is None or champion.get(k) is None
             else candidate[k] - champion[k]} for k in keys]


def compare_bundles(bundles: Mapping[str, Any], prepared: Any, schema: Schema, start: Any, end: Any,
                    cfg: EvaluationConfig) -> dict[str, Any]:
    """Score one labelled window with each bundle (name -> fraudcore.bundle.Bundle) and compare them.

    Each model is judged at its own thresholds, on the same rows. `schema` is the data's schema; each
    bundle's pipeline reads the columns it was trained on, by name.
    """
    from fraudcore.thresholds import decide

    cfg = cfg.for_schema(schema)
    scorers = {name: BatchScorer(tuple(map(str, b.pipeline.feature_names_in_)), b.score) for name, b in bundles.items()}
    keep = [*slice_columns(cfg), *([schema.oracle] if schema.oracle else []), *([cfg.entity] if cfg.entity else [])]
    scores, frame = score_window(prepared, schema, (start, end), scorers, keep=keep, chunk_rows=cfg.chunk_rows)
    y = frame[schema.label].to_numpy()
    masks = slice_masks(cfg, schema, frame)
    out: dict[str, Any] = {"window": [str(start), str(end)], "rows": int(len(y)), "positives": int(y.sum()),
                           "models": {}, "versions": {n: b.version for n, b in bundles.items()}}
    decisions = {}
    for name, b in bundles.items():
        out["models"][name] = evaluate_scores(y, scores[name], b.thresholds, masks)
        if cfg.entity:
            out["models"][name]["entity"] = {"field": cfg.entity, **entity_top_k(
                y, scores[name], frame[schema.time], frame[cfg.entity], cfg.entity_top_k, cfg.entity_remove_known)}
        decisions[name] = decide(scores[name], b.thresholds)
    if schema.oracle and frame[schema.oracle].notna().all():
        out["oracle"] = oracle_figures(y, frame[schema.oracle].to_numpy(dtype=np.float64), cfg_floor(bundles))
    names = list(bundles)
    if len(names) == 2:
        a, b = names
        out["comparison"] = compare(out["models"][b], out["models"][a])
        out["decision_agreement"] = {f"{da}/{db}": int(np.sum((decisions[a] == da) & (decisions[b] == db)))
                                     for da in ("approve", "review", "decline") for db in ("approve", "review", "decline")}
    return out


def cfg_floor(bundles: Mapping[str, Any]) -> float:
    return float(next(iter(bundles.values())).thresholds.precision_floor)
