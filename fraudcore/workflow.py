"""The training steps' work, composed from the fraudcore parts, so flows stay thin and testable.

Each function takes a `TrainContext` (typed config, schema, prepared data, split plan and counts) and
the typed results of earlier steps (`FinalModel`, `EvaluationResult`), reads the parquet it needs, and
returns typed results whose `to_dict()` (plain dicts of numbers and lists) is what Metaflow stores.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from fraudcore import evaluation as E
from fraudcore.bundle import ModelParts
from fraudcore.config import TrainConfig
from fraudcore.context import TrainContext
from fraudcore.evaluation import EvaluationResult, booster_scorer, score_window
from fraudcore.alert_budget import rule_table, with_alert_budget
from fraudcore.entity_metrics import entity_top_k
from fraudcore.gate import gate_by_config
from fraudcore.pipeline import FeaturePipeline
from fraudcore.prepare import PreparedData, RowDraw, load_part, negative_rate
from fraudcore.profile import ProfileBinning, build_profile
from fraudcore.schema import Schema
from fraudcore.split import SplitPlan
from fraudcore.thresholds import Thresholds, choose_thresholds
from fraudcore.train import Matrices


@dataclass(frozen=True)
class FinalModel:
    """The trained model as the steps after `train` take it: what `fit_final` returns, plus its pipeline."""

    model_text: str
    pipeline_state: Mapping[str, Any]
    final: Mapping[str, Any]  # how it was fit: refit, rows, positives, negative_rate, rounds, logit_offset
    thresholds: Mapping[str, Any]
    validation_metrics: Mapping[str, Any]

    @property
    def logit_offset(self) -> float:
        return float(self.final["logit_offset"])

    def load(self) -> tuple[lgb.Booster, FeaturePipeline]:
        return lgb.Booster(model_str=self.model_text), FeaturePipeline.from_state(self.pipeline_state)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def fit_final(ctx: TrainContext, matrices: Mapping[str, Any], pipeline_state: Mapping[str, Any],
              tuning: Mapping[str, Any]) -> FinalModel:
    """Thresholds from a train-only model scored on the whole validation period, then the final model.

    The train-only model (the best trial, retrained) never saw validation, so its validation scores are
    honest and its thresholds are chosen on them. Scores are calibrated probabilities, so the thresholds
    carry over to the final model, refit on train + validation (`final.refit`). The holdout is untouched.
    """
    from fraudcore.train import refit_train_val, train_final

    cfg, schema = ctx.cfg, ctx.schema
    pipeline = FeaturePipeline.from_state(pipeline_state)
    mat = Matrices(**matrices)
    params, rounds = tuning["best_params"], tuning["best_iteration"]
    num_threads = cfg.final.num_threads
    selector = train_final(cfg, mat, params, rounds, num_threads)
    scores, frame = score_window(ctx.prepared, schema, ctx.split.bounds("validation"),
                                 {"model": booster_scorer(selector, pipeline, mat.logit_offset)},
                                 chunk_rows=cfg.evaluation.chunk_rows)
    y, s = frame[schema.label].to_numpy(), scores["model"]
    thr = choose_thresholds(y, s, cfg.thresholds.precision_floor, cfg.thresholds.decline_precision)
    if cfg.thresholds.alerts_per_day > 0:
        thr = with_alert_budget(thr, y, s, frame[schema.time], cfg.thresholds.alerts_per_day,
                                cfg.thresholds.review_rule)
    if cfg.final.refit == "train_val":
        final, info = refit_train_val(ctx, pipeline, params, rounds, mat.train_rows, num_threads)
    else:
        final, info = selector, {"refit": "none", "rows": mat.train_rows, "positives": mat.train_positives,
                                 "negative_rate": mat.train_rate, "rounds": rounds, "logit_offset": mat.logit_offset}
    validation = {**E.evaluate_scores(y, s, thr, None), "rules": rule_table(y, s, frame[schema.time], thr)}
    return FinalModel(final.model_to_string(), pipeline_state, info, thr.to_dict(), validation)


def _champion(schema: Schema) -> tuple[str, Any] | None:
    """The current champion's id and loaded bundle, if there is one whose fields this data has."""
    from fraudcore.bundle import load_bundle
    from fraudcore.registry.lookup import champion_run_id
    from fraudcore.registry.store import materialize_bundle

    rid = champion_run_id()
    if rid is None:
        return None
    bundle = load_bundle(materialize_bundle(rid))
    missing = set(map(str, bundle.pipeline.feature_names_in_)) - set(schema.feature_names)
    return None if missing else (rid, bundle)


def evaluate_run(ctx: TrainContext, model: FinalModel) -> EvaluationResult:
    """Holdout metrics with slices, baseline, oracle and champion; SHAP; drift profile; the gate."""
    cfg, schema, prepared, plan, counts = ctx.cfg, ctx.schema, ctx.prepared, ctx.split, ctx.part_counts
    booster, pipeline = model.load()
    offset = model.logit_offset
    thr = Thresholds.from_dict(dict(model.thresholds))
    validation = model.validation_metrics
    ev = cfg.evaluation.for_schema(schema)
    scorers = {"model": booster_scorer(booster, pipeline, offset)}
    if ev.baseline:
        pos = counts["train"]["positives"]
        rate = negative_rate(counts, ["train"], ev.baseline_max_negatives + pos, 1.0)
        lr_train = load_part(prepared, schema, plan, ["train"], schema.feature_names, RowDraw(rate, cfg.seed + 2))
        scorers["logistic"] = E.baseline_scorer(schema, lr_train, rate, cfg.seed, max_negatives=len(lr_train) + 1)
        del lr_train
    champion = _champion(schema)
    if champion is not None:
        rid, bundle = champion
        scorers["champion"] = booster_scorer(bundle.booster, bundle.pipeline, bundle.logit_offset)
    keep = [*E.slice_columns(ev), *([schema.oracle] if schema.oracle else []), *([ev.entity] if ev.entity else [])]
    scores, frame = score_window(prepared, schema, plan.bounds("holdout"), scorers, keep=keep, chunk_rows=ev.chunk_rows)
    y = frame[schema.label].to_numpy()
    masks = E.slice_masks(ev, schema, frame)
    holdout = E.evaluate_scores(y, scores["model"], thr, masks)
    baseline = E.evaluate_scores(y, scores["logistic"], thr, None) if "logistic" in scores else None
    oracle = None
    if schema.oracle and frame[schema.oracle].notna().all():
        oracle = E.oracle_figures(y, frame[schema.oracle].to_numpy(dtype=np.float64), thr.precision_floor)
    champ = None
    if champion is not None:
        champ = {"run_id": champion[0], **E.evaluate_scores(y, scores["champion"], champion[1].thresholds, None)}
    times = frame[schema.time]
    rules = {name: {"validation": validation.get("rules", {}).get(name), "holdout": fig}
             for name, fig in rule_table(y, scores["model"], times, thr).items()}
    entity = None
    if ev.entity:
        entity = {"field": ev.entity, **entity_top_k(y, scores["model"], times, frame[ev.entity], ev.entity_top_k,
                                                      ev.entity_remove_known)}
    gate = gate_by_config(holdout, cfg.gate, cfg.thresholds.precision_floor, champ,
                          (rules.get("alert_budget") or {}).get("holdout"))
    rows = max(1, counts["holdout"]["rows"])
    sample = load_part(prepared, schema, plan, ["holdout"], [schema.id, *schema.feature_names],
                       RowDraw(min(1.0, ev.shap_rows / rows), cfg.seed + 3, uniform=True))
    sample_scores = scorers["model"].score(sample)
    explain = E.explain_sample(ModelParts(booster, pipeline, thr, schema, offset), sample, sample_scores,
                               ev.reason_examples)
    # ids and in-flow scores of a few holdout rows: a bundle loaded later must reproduce them bit for bit
    parity = {"ids": sample[schema.id].head(200).tolist(), "scores": sample_scores[:200].tolist()}
    vrows = max(1, counts["validation"]["rows"])
    ref = load_part(prepared, schema, plan, ["validation"], schema.feature_names,
                    RowDraw(min(1.0, ev.profile_rows / vrows), cfg.seed + 4, uniform=True))
    profile = build_profile(ref, scorers["model"].score(ref), schema=schema,
                            review_threshold=thr.review, binning=ProfileBinning(seed=cfg.seed))
    return EvaluationResult(
        holdout=holdout, validation=dict(validation), baseline=baseline, oracle=oracle, champion=champ,
        comparison=E.compare(holdout, champ), gate=gate.to_dict(), explain=explain, profile=profile,
        headline={**E.headline(holdout, validation, thr, oracle, baseline), **E.extra_headline(rules, entity),
                  "gate": "passed" if gate.passed else "failed"},
        score_sample=_score_sample(y, scores["model"], cfg.seed), parity=parity,
        data_profile={"fraud_rate_by_month": E.fraud_rate_by_month(prepared.months),
                      "missing_rate": {k: v / max(1, prepared.rows) for k, v in prepared.missing.items()}},
        rules=rules, entity=entity)


def _score_sample(y: np.ndarray, s: np.ndarray, seed: int, n: int = 20_000) -> dict[str, list[float]]:
    """Scores by class for the distribution plot: every positive (up to n) and n negatives."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    pos = rng.choice(pos, min(n, len(pos)), replace=False)
    neg = rng.choice(neg, min(n, len(neg)), replace=False)
    return {"fraud": s[pos].tolist(), "legit": s[neg].tolist()}


def make_bundle(ctx: TrainContext, model: FinalModel, result: EvaluationResult, matrices: Mapping[str, Any],
                tuning: Mapping[str, Any], run_id: str) -> tuple[dict[str, bytes], str, str]:
    """Write and verify the bundle under the run's work folder, package model.tar.gz; return
    ({file: bytes}, tar sha256, tar path)."""
    from fraudcore.bundle import BundleRecord, load_bundle, package_bundle, write_bundle

    booster, pipeline = model.load()
    workdir = Path(ctx.cfg.data.work_root) / str(run_id)
    out = workdir / "bundle"
    if out.exists():
        shutil.rmtree(out)  # a resumed run rewrites its bundle
    extra = {"tuning": {k: v for k, v in tuning.items() if k != "history"},
             "sampling": dict(matrices), "final": dict(model.final), "oracle_pr_auc": result.headline.get("oracle_pr_auc"),
             "features": ctx.features}
    parts = ModelParts(booster, pipeline, Thresholds.from_dict(dict(model.thresholds)), ctx.schema, model.logit_offset)
    record = BundleRecord(run_id, result.profile, metrics=json.loads(json.dumps(result.bundle_metrics(), default=_nan_free)),
                          config=ctx.cfg.to_dict(), data_fingerprint=ctx.prepared.fingerprint,
                          extra=json.loads(json.dumps(extra, default=_nan_free)))
    write_bundle(out, parts, record)
    load_bundle(out)
    tar = workdir / "model.tar.gz"
    sha = package_bundle(out, tar)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}, sha, str(tar.resolve())


def _nan_free(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def evaluation_window(cfg: TrainConfig, schema: Schema, model_run_id: str, data_path: str = "",
                      start: str = "", end: str = "") -> tuple[PreparedData, str, str]:
    """The labelled window EvaluateFlow scores: a user's file (all of it, or [start, end)), or by
    default the holdout of the model's own training run."""
    import pandas as pd

    from fraudcore.prepare import prepare_dataset

    if data_path:
        prepared = prepare_dataset(schema, data_path, cfg.data)
        lo = start or prepared.first_time
        hi = end or (pd.Timestamp(prepared.last_time) + pd.Timedelta(microseconds=1)).isoformat()
        return prepared, str(lo), str(hi)
    from fraudcore.registry.lookup import get_run

    run = get_run(model_run_id)
    prepared = PreparedData.from_dict(run.data.prepared)
    plan = SplitPlan.from_dict(run.data.split)
    lo, hi = plan.holdout
    return prepared, start or lo, end or hi


def evaluate_models(cfg: TrainConfig | None, model: str, challenger: str = "", data_path: str = "", start: str = "",
                    end: str = "") -> dict[str, Any]:
    """Champion (or any run) against an optional challenger on one window; the EvaluateFlow/CLI core.
    `cfg` None: the model's own training config, kept in its bundle."""
    from fraudcore.bundle import load_bundle
    from fraudcore.registry.lookup import resolve
    from fraudcore.registry.store import materialize_bundle

    names = {"model": resolve(model)}
    if challenger:
        names["challenger"] = resolve(challenger)
    bundles = {n: load_bundle(materialize_bundle(rid)) for n, rid in names.items()}
    return evaluate_bundles(bundles, cfg, names["model"], data_path, (start, end))


def evaluate_bundles(bundles: Mapping[str, Any], cfg: TrainConfig | None, model_run_id: str, data_path: str = "",
                     window: tuple[str, str] = ("", "")) -> dict[str, Any]:
    """Loaded bundles (the first is the model) on one window of `data_path` or of the model's training holdout,
    after checking they fit the data and the config (`fraudcore.evaluation.fit.check_fit`)."""
    from fraudcore.evaluation.fit import bundle_config, check_fit

    first = next(iter(bundles.values()))
    own = cfg is None
    cfg = bundle_config(first) if cfg is None else cfg
    check_fit(bundles, cfg, data_path)
    schema = first.schema
    prepared, lo, hi = evaluation_window(cfg, schema, model_run_id, data_path, *window)
    result = E.compare_bundles(bundles, prepared, schema, lo, hi, cfg.evaluation)
    # the default window of a run trained with a separate test file is that file
    source = prepared.holdout["source"] if prepared.holdout and not data_path else prepared.source
    result["data"] = {"source": source, "fingerprint": dict(prepared.fingerprint)}
    result["config"] = "the model's own (kept in its bundle)" if own else "given"
    return result
