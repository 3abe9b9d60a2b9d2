"""The TrainFlow card: what a fraud analyst needs to judge a model, as Metaflow card components.

Builders take what fraudcore produced (the `EvaluationResult` of fraudcore.workflow.evaluate_run, its
`FinalModel`, and fraudcore.tuning.summarize) and draw it; they compute nothing new.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from metaflow.cards import Image, Markdown, Table  # noqa: E402

from fraudcore.prepare import set_aside_lines  # noqa: E402

if TYPE_CHECKING:
    from fraudcore.evaluation import EvaluationResult
    from fraudcore.workflow import FinalModel


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def reason_value(v: Any) -> str:
    """A reason's value as a person reads it: 3 significant digits (0.413, 12.3, 4,210), no float noise
    such as 0.41332730650901794; ints, categories and flags as they are."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "missing"
    if isinstance(v, bool) or not isinstance(v, (float, np.floating)):
        return str(v)
    v = float(v)
    if v == 0 or not math.isfinite(v) or abs(v) < 1e-3:
        return f"{v:.3g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def label_room(fig: Any, ax: Any, pad_px: float = 12.0) -> None:
    """Widen the left margin so the y tick labels (field names) fit inside the figure, whatever their length."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    widest = max((t.get_window_extent(renderer).width for t in ax.get_yticklabels()), default=0.0)
    width = fig.get_size_inches()[0] * fig.dpi
    fig.subplots_adjust(left=min(0.6, (widest + pad_px + 8) / width))


def _image(fig: Any) -> Image:
    img = Image.from_matplotlib(fig)
    plt.close(fig)
    return img


def pr_curves(result: EvaluationResult) -> Image:
    """Validation and holdout PR curves, the oracle's and the champion's, with the operating point."""
    fig, ax = plt.subplots(figsize=(7, 5))
    hold, val = result.holdout, result.validation
    ax.plot(val["pr_curve"]["recall"], val["pr_curve"]["precision"], label=f"validation (AP {val['pr_auc']:.3f})")
    ax.plot(hold["pr_curve"]["recall"], hold["pr_curve"]["precision"], label=f"holdout (AP {hold['pr_auc']:.3f})")
    if result.oracle:
        o = result.oracle
        ax.plot(o["pr_curve"]["recall"], o["pr_curve"]["precision"], "k--", label=f"oracle, holdout (AP {o['pr_auc']:.3f})")
    if result.champion:
        c = result.champion
        ax.plot(c["pr_curve"]["recall"], c["pr_curve"]["precision"], ":",
                label=f"champion {c['run_id']}, holdout (AP {c['pr_auc']:.3f})")
    if result.baseline:
        b = result.baseline
        ax.plot(b["pr_curve"]["recall"], b["pr_curve"]["precision"], alpha=0.6,
                label=f"logistic baseline, holdout (AP {b['pr_auc']:.3f})")
    ax.scatter([hold["recall_at_threshold"]], [hold["precision_at_threshold"]], color="red", zorder=5,
               label=f"operating point, holdout (t={hold['threshold']:.3f})")
    ax.axhline(hold["precision_floor"], color="grey", lw=0.8, ls="--", label="precision floor")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1), title="Precision-recall")
    ax.legend(fontsize=7)
    return _image(fig)


def threshold_plot(result: EvaluationResult) -> Image:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, style in (("validation", "-"), ("holdout", "--")):
        c = getattr(result, name)["pr_curve"]
        ax.plot(c["threshold"], c["precision"], style, color="C0", label=f"precision ({name})")
        ax.plot(c["threshold"], c["recall"], style, color="C1", label=f"recall ({name})")
    t = result.holdout["threshold"]
    ax.axvline(t, color="red", lw=0.8, label=f"review threshold {t:.3f}")
    ax.set(xscale="log", xlabel="score threshold", ylabel="value", ylim=(0, 1), title="Precision and recall vs threshold")
    ax.legend(fontsize=7)
    return _image(fig)


def score_distribution(sample: Mapping[str, Sequence[float]], threshold: float) -> Image:
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.logspace(-5, 0, 60)
    ax.hist(np.clip(sample["legit"], 1e-5, 1), bins=bins, alpha=0.6, density=True, label="legit")
    ax.hist(np.clip(sample["fraud"], 1e-5, 1), bins=bins, alpha=0.6, density=True, label="fraud")
    ax.axvline(threshold, color="red", lw=0.8, label="review threshold")
    ax.set(xscale="log", xlabel="score (probability)", ylabel="density", title="Holdout scores by class")
    ax.legend()
    return _image(fig)


def confusion(hold: Mapping[str, Any]) -> Table:
    return Table([["actual fraud", _fmt(hold["tp"]), _fmt(hold["fn"])],
                  ["actual legit", _fmt(hold["fp"]), _fmt(hold["tn"])]],
                 headers=["", "alerted (score >= threshold)", "not alerted"])


def calibration_plot(hold: Mapping[str, Any]) -> Image:
    fig, ax = plt.subplots(figsize=(5, 5))
    c = hold["calibration"]
    ax.plot(c["mean_score"], c["fraud_rate"], "o-", label=f"holdout (ECE {c['ece']:.4f})")
    top = max(max(c["mean_score"]), max(c["fraud_rate"]))
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="perfect")
    ax.set(xlabel="mean score in bin", ylabel="fraud rate in bin", title="Calibration (quantile bins)")
    ax.legend()
    return _image(fig)


def shap_plots(explain: Mapping[str, Any], top: int = 15) -> list[Any]:
    """Beeswarm of the top fields, importance per field and per group (mean |SHAP|, log-odds)."""
    fields = list(explain["fields"])
    shap_values = np.asarray(explain["shap"], dtype=np.float64)
    values = np.asarray(explain["values"], dtype=np.float64)
    imp = explain["field_importance"]
    order = [fields.index(f) for f in list(imp)[:top]][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(order) + 1.5))
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        v = values[:, j]
        finite = np.isfinite(v)
        lo, hi = (np.nanpercentile(v, 5), np.nanpercentile(v, 95)) if finite.any() else (0, 1)
        color = np.where(finite, np.clip((v - lo) / (hi - lo if hi > lo else 1), 0, 1), np.nan)
        y = row + rng.uniform(-0.3, 0.3, len(v))
        ax.scatter(shap_values[~finite, j], y[~finite], c="lightgrey", s=4)
        sc = ax.scatter(shap_values[finite, j], y[finite], c=color[finite], cmap="coolwarm", s=4, vmin=0, vmax=1)
    ax.set_yticks(range(len(order)), [fields[j] for j in order])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set(xlabel="SHAP value (log-odds contribution)", title="SHAP beeswarm, holdout sample (grey: missing)")
    fig.colorbar(sc, ax=ax, label="feature value (low to high)")
    label_room(fig, ax)
    out = [_image(fig)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 0.3 * min(top, len(imp)) + 1.5))
    names = list(imp)[:top][::-1]
    a1.barh(names, [imp[n] for n in names])
    a1.set(title="Importance per field (mean |SHAP|)", xlabel="log-odds")
    groups = explain["group_importance"]
    a2.barh(list(groups)[::-1], list(groups.values())[::-1], color="C2")
    a2.set(title="Importance per group", xlabel="log-odds")
    fig.tight_layout()
    out.append(_image(fig))
    return out


def slice_table(hold: Mapping[str, Any]) -> Table:
    rows = [[name, _fmt(s["n"]), _fmt(s["positives"]), _fmt(s["fraud_rate"]), _fmt(s["pr_auc"]),
             _fmt(s["recall_at_precision"]), _fmt(s["precision_at_threshold"]), _fmt(s["recall_at_threshold"]),
             _fmt(s["alert_rate"])] for name, s in hold["slices"].items()]
    return Table(rows, headers=["slice", "rows", "frauds", "fraud rate", "PR-AUC", "recall@P-floor",
                                "precision@t", "recall@t", "alert rate"])


def data_profile(profile: Mapping[str, Any]) -> list[Any]:
    months = profile["fraud_rate_by_month"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar([m["month"] for m in months], [m["fraud_rate"] or 0 for m in months])
    ax.set(ylabel="fraud rate", title="Fraud rate per month")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    miss = {k: v for k, v in sorted(profile["missing_rate"].items(), key=lambda kv: -kv[1]) if v > 0}
    table = Table([[k, f"{v:.2%}"] for k, v in miss.items()] or [["(none)", "0%"]],
                  headers=["feature", "missing rate"])
    return [_image(fig), Markdown("**Missing rate per feature** (features never missing omitted)"), table]


def optuna_history(tuning: Mapping[str, Any]) -> Image:
    hist = tuning["history"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
        pts = [(h["number"], h["value"]) for h in hist if h["state"] == state and h["value"] is not None]
        if pts:
            ax.scatter(*zip(*pts), marker=marker, label=state.lower())
    best = [(h["number"], h["best_so_far"]) for h in hist if h["best_so_far"] is not None]
    if best:
        ax.step(*zip(*best), where="post", color="red", label="best so far")
    ax.set(xlabel="trial (all branches)", ylabel="validation PR-AUC", title="Optuna history")
    ax.legend()
    return _image(fig)


def champion_table(comparison: Sequence[Mapping[str, Any]], champion_id: str | None) -> Any:
    if not comparison:
        return Markdown("No champion yet: nothing to compare with.")
    return Table([[c["metric"], _fmt(c["candidate"]), _fmt(c["champion"]), _fmt(c["difference"])] for c in comparison],
                 headers=["holdout metric", "this run", f"champion {champion_id}", "difference"])


def headline_table(headline: Mapping[str, Any]) -> Table:
    return Table([[k, _fmt(v)] for k, v in headline.items()], headers=["metric", "value"])


def walk_forward_section(wf: Mapping[str, Any] | None) -> list[Any]:
    """Model against oracle week by week, as the weekly retrain would have run."""
    if not wf:
        return [Markdown("No walk-forward backtest for this run (it needs raw events and an oracle).")]
    if not wf["weeks"]:
        return [Markdown(f"No week could be scored (no fraud known for training or none to score): {wf['skipped']}")]
    weeks = wf["weeks"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    x = [w["cutoff"] for w in weeks]
    ax.plot(x, [w["model_pr_auc"] for w in weeks], marker="o", label="model (retrained weekly)")
    ax.plot(x, [w["oracle_pr_auc"] for w in weeks], marker="s", label="oracle")
    ax.set_ylabel("PR-AUC of the week")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.legend()
    fig.tight_layout()
    return [Markdown(f"Pooled over {len(weeks)} weeks: model PR-AUC {wf['pooled_model_pr_auc']:.4f}, oracle "
                     f"{wf['pooled_oracle_pr_auc']:.4f}, **model/oracle {wf['pooled_ratio']:.3f}** (median weekly "
                     f"{wf['median_weekly_ratio']:.3f}). Each week's model saw only the labels known at its cutoff."),
            _image(fig),
            Table([[w["cutoff"], _fmt(w["rows"]), _fmt(w["positives"]),
                    f"{w['train_positives_known']}/{w['train_positives_final']}", _fmt(w["model_pr_auc"]),
                    _fmt(w["oracle_pr_auc"]), _fmt(w["ratio"], 3)] for w in weeks],
                  headers=["week from", "rows", "frauds", "training frauds known/final", "model PR-AUC",
                           "oracle PR-AUC", "ratio"])]


def feature_section(features: Mapping[str, Any] | None) -> list[Any]:
    """The feature definitions this model was trained on (from raw events), and their hash."""
    if not features:
        return [Markdown("Trained on a feature table given as is (no feature definitions from raw events).")]
    decl = features["declarations"]
    rows = []
    for f in decl["features"]:
        how = {k: v for k, v in f.items() if k not in ("name", "kind") and v not in (None, (), [], {})}
        rows.append([f["name"], f.get("kind", ""), "; ".join(f"{k}={v}" for k, v in how.items())])
    return [Markdown(f"Target stream `{decl['target']}`; declarations sha256 `{features['fingerprint'][:16]}`; "
                     f"backfill key `{features['key'][:16]}` (events + declarations)."),
            Table(rows, headers=["feature", "kind", "definition"])]


def set_aside_section(report: Mapping[str, Any] | None) -> list[Any]:
    """Rows the data check quarantined, with their reasons, and the columns it ignored."""
    if report is None:
        return []
    lines = "\n".join(f"- {line}" for line in set_aside_lines(report))
    return [Markdown("**Set aside by the data check**\n\n" + lines)]


def rules_section(rules: Mapping[str, Any], review_rule: str) -> list[Any]:
    """The two review rules side by side: highest recall at the precision floor, and the alert budget."""
    if not rules:
        return []
    rows = []
    for name, label in (("precision", "precision floor"), ("alert_budget", "alert budget")):
        r = rules.get(name)
        if not r:
            continue
        for part in ("validation", "holdout"):
            f = r.get(part)
            if f:
                rows.append([label + (" (review band)" if name == review_rule else ""), part, f"{f['threshold']:.4g}",
                             _fmt(f["precision"], 3), _fmt(f["recall"], 3), f"{f['alerts_per_day']:.1f}",
                             f"{f['max_alerts_per_day']:.0f}"])
    budget = (rules.get("alert_budget") or {}).get("holdout") or {}
    return [Markdown(f"**Review rules.** Precision floor: the highest recall with precision >= the floor on validation. "
                     f"Alert budget: at most {budget.get('budget', 0):g} alerts a day on average over the validation "
                     "days. Both thresholds were chosen on validation; the holdout shows what each would have done."),
            Table(rows, headers=["rule", "period", "threshold", "precision", "recall", "alerts a day (mean)",
                                 "busiest day"])]


def entity_section(entity: Mapping[str, Any] | None) -> list[Any]:
    """Precision at the top k entities a day on the holdout, as a curve over k."""
    if not entity:
        return [Markdown("No entity-level evaluation (set `[evaluation] entity` to a card or customer column).")]
    ks = entity["k"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(ks, entity["precision_at_k_known_removed"], "o-", label="known compromised removed")
    ax.plot(ks, entity["precision_at_k_all"], "s--", label="all entities")
    ax.set(xlabel="k (entities reviewed a day)", ylabel="precision (mean over days)", ylim=(0, 1),
           title=f"Precision at top-k {entity['field']} a day (holdout)")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.legend()
    fig.tight_layout()
    mode = "removed" if entity["remove_known"] else "kept"
    return [Markdown(f"Each day the {entity['field']} values are ranked by their riskiest transaction that day; "
                     f"precision at k = frauds among the top k / k, averaged over {entity['days']} days "
                     f"({entity['entities']:,} entities, {entity['fraud_entity_days']:,} fraud entity-days, "
                     f"{entity['fraud_entity_days_new']:,} not known before). Entities with a fraud on an earlier day "
                     f"are {mode} in the headline figure."),
            _image(fig),
            Table([[_fmt(k), _fmt(a, 3), _fmt(b, 3)] for k, a, b in
                   zip(ks, entity["precision_at_k_known_removed"], entity["precision_at_k_all"])],
                  headers=["k", "precision, known compromised removed", "precision, all entities"])]


def _review_rule_text(thresholds: Mapping[str, Any]) -> str:
    if thresholds.get("review_rule") == "alert_budget":
        return f"at most {thresholds['alerts_per_day']:g} alerts a day"
    return f"precision >= {thresholds['precision_floor']:.0%}"


def train_card(run_id: str, result: EvaluationResult, model: FinalModel, tuning: Mapping[str, Any],
               split: Mapping[str, Any], split_counts: Mapping[str, Any], *,
               walk_forward: Mapping[str, Any] | None = None, features: Mapping[str, Any] | None = None,
               data_report: Mapping[str, Any] | None = None) -> list[Any]:
    """Every card section, in reading order."""
    gate, hold, head = result.gate, result.holdout, result.headline
    thresholds, final = model.thresholds, model.final
    verdict = "PASSED" if gate["passed"] else "FAILED"
    out: list[Any] = [
        Markdown(f"# TrainFlow run {run_id}: gate {verdict}"),
        Markdown("\n".join(f"- `{line}`" for line in gate["lines"])),
        Markdown("## Headline (holdout unless marked val_)"), headline_table(head),
        Markdown("**Final model:** " + ", ".join(f"{k} {_fmt(v)}" for k, v in final.items())),
        Markdown("## Split"),
        Table([[p, " to ".join(split[p]), _fmt(split_counts[p]["rows"]), _fmt(split_counts[p]["positives"])]
               for p in ("train", "validation", "holdout")], headers=["part", "range [start, end)", "rows", "frauds"]),
        Markdown(f"## Operating point\nreview threshold {thresholds['review']:.4f} ({_review_rule_text(thresholds)} "
                 f"on validation), decline threshold {thresholds['decline']:.4f} "
                 f"(precision >= {thresholds['decline_precision']:.0%}). Chosen on validation only, with scores from the "
                 "train-only model (the validation curve below); the final model is described in the headline."),
        *rules_section(result.rules, thresholds.get("review_rule", "precision")),
        pr_curves(result), threshold_plot(result), score_distribution(result.score_sample, hold["threshold"]),
        Markdown("### Confusion matrix at the review threshold (holdout)"), confusion(hold),
        calibration_plot(hold),
        Markdown("## Slices (holdout)"), slice_table(hold),
        Markdown("## Entities (holdout)"), *entity_section(result.entity),
        Markdown("## Explanation"), *shap_plots(result.explain),
    ]
    examples = result.explain["examples"]
    if examples:
        out += [Markdown("### Reason codes for example flagged transactions"),
                Table([[f"{e['score']:.4f}", e["decision"],
                        "; ".join(f"{r['feature']}={reason_value(r['value'])} (+{r['contribution']:.2f})"
                                  for r in e["reasons"])]
                       for e in examples], headers=["score", "decision", "top reasons (log-odds)"])]
    out += [Markdown("## Data profile"), *set_aside_section(data_report), *data_profile(result.data_profile),
            Markdown("## Tuning"), optuna_history(tuning),
            Markdown(f"best validation PR-AUC {tuning['best_value']:.4f} at {tuning['best_iteration']} rounds, "
                     f"{tuning['n_complete']} complete / {tuning['n_pruned']} pruned of {tuning['n_trials']} trials"),
            Table([[k, _fmt(v)] for k, v in tuning["best_params"].items()], headers=["parameter", "best value"]),
            Markdown("## Against the champion (same holdout)"),
            champion_table(result.comparison, (result.champion or {}).get("run_id")),
            Markdown("## Weekly walk-forward backtest"), *walk_forward_section(walk_forward),
            Markdown("## Feature definitions"), *feature_section(features)]
    return out
