"""How hard the synthetic data is: the oracle's and a logistic regression's PR-AUC on the last months.

The generator's spec requires, on the last three months as holdout, an oracle PR-AUC in [0.50, 0.70]
and a logistic regression on the raw features at least 0.10 below it. `fraud data difficulty`
reports both.
"""
from __future__ import annotations

import pandas as pd
from sklearn.metrics import average_precision_score

from fraudcore.baseline import fit_logistic_baseline, score_logistic_baseline
from fraudcore.schema import Schema


def month_labels(schema: Schema, frame: pd.DataFrame) -> pd.Series:
    return frame[schema.time].dt.strftime("%Y-%m")


def measure_difficulty(schema: Schema, frame: pd.DataFrame, holdout_months: int = 3, seed: int = 0) -> dict:
    if schema.oracle is None or schema.oracle not in frame:
        raise ValueError(f"the data has no oracle column ({schema.oracle!r}); difficulty needs synthetic data")
    months = month_labels(schema, frame)
    ordered = sorted(months.unique())
    if len(ordered) <= holdout_months:
        raise ValueError(f"need more than {holdout_months} months of data; got {len(ordered)}")
    first_holdout = ordered[-holdout_months]
    hold = (months >= first_holdout).to_numpy()
    y = frame[schema.label].to_numpy()
    oracle = frame[schema.oracle].to_numpy()
    lr = fit_logistic_baseline(schema, frame[~hold], seed=seed)
    lr_scores = score_logistic_baseline(schema, lr, frame[hold])
    oracle_ap = float(average_precision_score(y[hold], oracle[hold]))
    lr_ap = float(average_precision_score(y[hold], lr_scores))
    return {
        "rows": int(len(frame)), "holdout_rows": int(hold.sum()), "holdout_from": first_holdout,
        "holdout_positives": int(y[hold].sum()), "fraud_rate": float(y.mean()),
        "oracle_pr_auc": oracle_ap, "logistic_pr_auc": lr_ap, "gap": oracle_ap - lr_ap,
        "spec": {"oracle_in_0.50_0.70": 0.50 <= oracle_ap <= 0.70, "logistic_gap_at_least_0.10": oracle_ap - lr_ap >= 0.10},
    }
