"""The EvaluateFlow card: two models (or one) on the same labelled window, side by side.

Draws `fraudcore.evaluation.compare_bundles` output; computes nothing new.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cards.train_card import _fmt, _image, champion_table, slice_table

import matplotlib.pyplot as plt  # noqa: E402  (backend chosen in cards.train_card)
from metaflow.cards import Markdown, Table  # noqa: E402


def pr_overlay(result: Mapping[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, m in result["models"].items():
        line, = ax.plot(m["pr_curve"]["recall"], m["pr_curve"]["precision"],
                        label=f"{name} {result['versions'][name]} (AP {m['pr_auc']:.3f})")
        ax.scatter([m["recall_at_threshold"]], [m["precision_at_threshold"]], color=line.get_color(), zorder=5)
    if result.get("oracle"):
        o = result["oracle"]
        ax.plot(o["pr_curve"]["recall"], o["pr_curve"]["precision"], "k--", label=f"oracle (AP {o['pr_auc']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1), title="Precision-recall on the window "
           "(dots: each model's operating point)")
    ax.legend(fontsize=8)
    return _image(fig)


def threshold_table(result: Mapping[str, Any]) -> Table:
    keys = ("threshold", "precision_at_threshold", "recall_at_threshold", "alert_rate", "tp", "fp", "fn")
    names = list(result["models"])
    return Table([[k, *(_fmt(result["models"][n][k]) for n in names)] for k in keys],
                 headers=["at each model's review threshold", *names])


def evaluate_card(result: Mapping[str, Any]) -> list[Any]:
    names = list(result["models"])
    title = ", ".join(f"{n} {result['versions'][n]}" for n in names)
    out: list[Any] = [
        Markdown(f"# Evaluation: {title}"),
        Markdown(f"Window [{result['window'][0]}, {result['window'][1]}) of `{result['data']['source']}`: "
                 f"{result['rows']:,} rows, {result['positives']:,} frauds."),
        pr_overlay(result), threshold_table(result),
    ]
    if "comparison" in result:
        out += [Markdown("## Differences (challenger minus model)"),
                champion_table(result["comparison"], result["versions"][names[0]])]
        agree = result["decision_agreement"]
        out += [Markdown("## Decisions: model (rows) vs challenger (columns)"),
                Table([[a, *(_fmt(agree[f"{a}/{b}"]) for b in ("approve", "review", "decline"))]
                       for a in ("approve", "review", "decline")], headers=["", "approve", "review", "decline"])]
    for n in names:
        out += [Markdown(f"## Slices: {n} {result['versions'][n]}"), slice_table(result["models"][n])]
    return out
