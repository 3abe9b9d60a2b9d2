"""Scoring validated records with one bundle: the bundle's own pipeline, booster, thresholds.

Nothing about features is computed here: `FeaturePipeline.transform` builds the matrix (the very
code training used), `fraudcore.bundle.predict_scores` turns it into calibrated probabilities (the
function training used for its own scores), `Bundle.decide` applies the thresholds, and reasons are
`fraudcore.explain`'s field crediting and ranking over exact SHAP values from `fastshap`.

The two compiled parts are fast paths with a switch each (`ScorerOptions`, `fraud serve
--no-compiled-walk / --no-compiled-reasons`): off, scores come from `Booster.predict` and SHAP values
from LightGBM's own `pred_contrib`, the reference both are tested against. Either way the scores and
decisions are the same bits and the reasons the same fields (contributions equal to ~1e-13).
"""
from __future__ import annotations

from dataclasses import dataclass
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from fraudcore.bundle import Bundle, predict_scores
from fraudcore.explain import contributions, field_contributions, top_reasons
from fraudcore.serving.fastpredict import TreePredictor
from fraudcore.serving.fastshap import TreeExplainer

APPROVE = "approve"
# Up to this many rows (a request or a micro-batch) the compiled tree walk is cheaper than
# `Booster.predict`, whose cost there is per-call overhead; beyond it LightGBM's own loop is as fast
# (docs/serving.md#where-the-time-goes-in-the-model has the figures).
COMPILED_PREDICT_MAX = 16


def example_record(bundle: Bundle) -> dict[str, Any]:
    """A valid record built from the schema (the middle of each range), for warm-up."""
    out: dict[str, Any] = {}
    for f in bundle.schema.features:
        if f.dtype == "category":
            out[f.name] = (f.categories or ("",))[0]
        elif f.dtype == "bool":
            out[f.name] = False
        else:
            lo = f.min if f.min is not None else 0.0
            hi = f.max if f.max is not None else lo + 1.0
            mid = lo + (hi - lo) / 1000.0
            out[f.name] = int(mid) if f.dtype == "int" else float(mid)
    return out


Rows = list[Mapping[str, Any]] | Mapping[str, Sequence[Any]]  # records (a request) or columns


@dataclass(frozen=True)
class ScorerOptions:
    """How a `Scorer` computes. No combination changes a score, a decision or a reason; the compiled
    paths are on by default because they are what keeps a request under a millisecond."""

    reasons_k: int = 3
    compiled_walk: bool = True      # fastpredict's tree walk for up to COMPILED_PREDICT_MAX rows
    compiled_reasons: bool = True   # fastshap's TreeSHAP; off: LightGBM's pred_contrib


@dataclass(frozen=True)
class Scored:
    """Scores and decisions of one request, and which rows still need reasons."""

    rows: Rows
    X: np.ndarray
    scores: np.ndarray
    decisions: Any
    need: list[int]


class Scorer:
    """One loaded model, ready to score; immutable after construction, so swapping is a reference change."""

    def __init__(self, bundle: Bundle, options: ScorerOptions = ScorerOptions()) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.pipeline = bundle.pipeline
        self.options = options
        self.reasons_k = options.reasons_k
        self.explainer = TreeExplainer(bundle.booster) if options.compiled_reasons else None
        self.trees = TreePredictor(bundle.booster) if options.compiled_walk else None
        self.feature_names = [str(n) for n in self.pipeline.feature_names_in_]
        self.warm_up()

    def warm_up(self) -> None:
        """Compile the explainer and touch every code path once, before taking traffic."""
        rec = example_record(self.bundle)
        self.score([rec], explain_all=True)
        self.score({name: [rec[name]] for name in self.feature_names}, explain_all=True)

    def predict(self, rows: Rows, explain_all: bool = False, explain_rows: Collection[int] = ()) -> Scored:
        """Transform, score and decide records (a list of field -> value) or columns (the fast part
        of a request).

        Reasons are due for every non-approve row, and also for `explain_rows` (or every row with
        `explain_all`): a micro-batch mixes requests that asked for all reasons with ones that did not."""
        X = self.pipeline.transform(rows)
        n = len(X)
        if self.trees is not None and n <= COMPILED_PREDICT_MAX:
            # the same arithmetic as predict_scores: sigmoid(float64 raw score + logit_offset), and
            # bit-identical raw scores (fastpredict walks the trees with LightGBM's rules and order)
            scores = expit(self.trees.raw(X) + self.bundle.logit_offset)
        else:
            scores = predict_scores(self.bundle.booster, X, self.bundle.logit_offset)
        decisions = self.bundle.decide(scores)
        need = [i for i in range(n) if explain_all or decisions[i] != APPROVE or i in explain_rows]
        return Scored(rows, X, scores, decisions, need)

    def explain(self, scored: Scored) -> dict[int, list[dict[str, Any]]]:
        """Top reasons for the rows in `scored.need`. Releases the GIL in its compiled part."""
        need, rows = scored.need, scored.rows
        if not need:
            return {}
        every = len(need) == len(scored.X)
        X = scored.X if every else scored.X[need]
        if self.explainer is not None:
            shap = self.explainer.contributions(X)
        else:  # as `fraudcore.explain.reason_codes` calls it
            shap = contributions(self.bundle.booster, X, num_threads=1 if len(X) == 1 else None)
        fc, fields = field_contributions(shap, self.pipeline)
        if every:
            raw = rows
        elif isinstance(rows, list):
            raw = [rows[i] for i in need]
        else:
            raw = {k: [rows[k][i] for i in need] for k in self.feature_names}
        return dict(zip(need, top_reasons(fc, fields, raw, self.reasons_k)))

    def results(self, scored: Scored, reasons: Mapping[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        out = []
        for i, (score, decision) in enumerate(zip(scored.scores.tolist(), scored.decisions)):
            res = {"score": score, "decision": str(decision), "model_version": self.version}
            if i in reasons:
                res["reasons"] = reasons[i]
            out.append(res)
        return out

    def score(self, rows: Rows, explain_all: bool = False,
              timings: dict[str, float] | None = None) -> list[dict[str, Any]]:
        """Score records or columns; reasons for every non-approve row (all rows if asked)."""
        t0 = time.perf_counter()
        scored = self.predict(rows, explain_all)
        t1 = time.perf_counter()
        reasons = self.explain(scored)
        if timings is not None:
            timings["model_s"] = t1 - t0
            timings["explain_s"] = time.perf_counter() - t1
        return self.results(scored, reasons)


def model_time_us(scorer: Scorer, records: list[dict[str, Any]], repeats: int = 1) -> np.ndarray:
    """In-process time (us) to transform, score and decide one record, for each record given."""
    out = []
    for _ in range(repeats):
        for rec in records:
            t = {}
            scorer.score([rec], explain_all=False, timings=t)
            out.append(t["model_s"] * 1e6)
    return np.asarray(out)
