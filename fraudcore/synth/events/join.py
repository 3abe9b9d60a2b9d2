"""From computed features to a labelled table: the label and (for synthetic data) the oracle, by transaction.

The feature engine returns one row per authorisation without labels; training joins them here. A
transaction is fraud when a label row says so and, with `known_by`, only if that row was known by then
(what a retrain at that time could see).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def attach_labels(features: pd.DataFrame, labels: pd.DataFrame, oracle: pd.DataFrame | None = None,
                  known_by: pd.Timestamp | None = None, label: str = "is_fraud") -> pd.DataFrame:
    """`features` plus `label` (int8 0/1) and, when given, the oracle's `fraud_probability`."""
    for name, frame, cols in (("features", features, ["transaction_id"]),
                              ("labels", labels, ["transaction_id", "known_at", "is_fraud"])):
        missing = [c for c in cols if c not in frame]
        if missing:
            raise ValueError(f"{name} must have columns {cols}; missing {missing}")
    lab = labels if known_by is None else labels[labels["known_at"] <= known_by]
    fraud_ids = lab.loc[lab["is_fraud"].to_numpy() == 1, "transaction_id"].to_numpy()
    out = features.copy()
    out[label] = np.isin(out["transaction_id"].to_numpy(), fraud_ids).astype(np.int8)
    if oracle is not None:
        prob = oracle.set_index("transaction_id")["fraud_probability"]
        out["fraud_probability"] = prob.reindex(out["transaction_id"].to_numpy()).to_numpy()
    return out
