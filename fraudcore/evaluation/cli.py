"""`fraud evaluate`: score the champion (or any run) and optionally a challenger on a labelled window.

    fraud evaluate                                   # champion on its own training run's holdout
    fraud evaluate --model champion --challenger RUN_ID --data new_weeks/ --start 2026-11-01
    fraud evaluate --model RUN_ID --data my.parquet --json

The same functions as EvaluateFlow (fraudcore.workflow.evaluate_models), without Metaflow steps or a
card; use `python flows/evaluate.py run ...` for the card.
"""
from __future__ import annotations

import argparse
import json
import sys

from fraudcore.config import load_train_config

SHOWN = ("pr_auc", "roc_auc", "recall_at_precision", "threshold", "precision_at_threshold", "recall_at_threshold",
         "alert_rate")


def _text(result: dict) -> str:
    lines = [f"window [{result['window'][0]}, {result['window'][1]}): {result['rows']:,} rows, "
             f"{result['positives']:,} frauds ({result['data']['source']})"]
    names = list(result["models"])
    lines.append(f"{'metric':<24}" + "".join(f"{n + ' ' + result['versions'][n]:>32}" for n in names))
    for k in SHOWN:
        vals = [result["models"][n].get(k) for n in names]
        lines.append(f"{k:<24}" + "".join(f"{v:>32.4f}" if isinstance(v, float) else f"{'-':>32}" for v in vals))
    if "oracle" in result:
        lines.append(f"{'oracle pr_auc':<24}{result['oracle']['pr_auc']:>32.4f}")
    entity = result["models"][names[0]].get("entity")
    for i, k in enumerate(entity["k"] if entity else []):
        vals = [result["models"][n]["entity"]["precision_at_k"][i] for n in names]
        lines.append(f"{entity['field'] + ' precision@' + str(k):<24}" + "".join(f"{v:>32.4f}" for v in vals))
    lines.append(f"config: {result.get('config', 'given')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from fraudcore.workflow import evaluate_models

    p = argparse.ArgumentParser(prog="fraud evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="champion", help="run id or 'champion' (default)")
    p.add_argument("--challenger", default="", help="a second run id to compare against --model")
    p.add_argument("--data", default="", help="labelled dataset (default: the model's training holdout)")
    p.add_argument("--start", default="", help="window start (ISO date, inclusive)")
    p.add_argument("--end", default="", help="window end (ISO date, exclusive)")
    p.add_argument("--config", default=None, help="config whose [evaluation] and [data] apply (default: the "
                                                   "model's own training config, kept in its bundle)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    # Errors (FraudError) are reported by `fraud` (fraudcore/cli.py) with their exit codes.
    cfg = load_train_config(args.config) if args.config else None
    result = evaluate_models(cfg, args.model, args.challenger, args.data, args.start, args.end)
    print(json.dumps(result, indent=2) if args.json else _text(result))
    return 0
