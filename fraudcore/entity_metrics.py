"""Entity-level evaluation: precision among the top k cards or customers of each day.

Fraud teams review entities, not transactions: each day investigators take the k entities (cards,
customers) whose riskiest transaction that day scored highest, and an entity already known to be
compromised (a confirmed fraud on an earlier day) is blocked, so it is left out of later days' rankings.
An entity is a fraud on a day when any of its transactions that day is. Precision at k for a day is the
frauds among its top k divided by k; the figure reported is the mean over the days.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _entity_days(y: np.ndarray, scores: np.ndarray, times: Any, entities: Any) -> pd.DataFrame:
    """One row per (day, entity): its highest score and whether any of its transactions was fraud."""
    day = pd.to_datetime(pd.Series(times), utc=True).dt.floor("D").to_numpy()
    frame = pd.DataFrame({"day": day, "entity": np.asarray(entities), "score": scores, "fraud": np.asarray(y) == 1})
    return frame.groupby(["day", "entity"], sort=False, observed=True).agg(score=("score", "max"),
                                                                           fraud=("fraud", "max")).reset_index()


def _known_before(per: pd.DataFrame) -> np.ndarray:
    """True where the entity had a fraud on an earlier day (already known compromised)."""
    first = per.loc[per["fraud"]].groupby("entity")["day"].min()
    first_fraud = per["entity"].map(first)
    return (first_fraud < per["day"]).fillna(False).to_numpy(dtype=bool)


def _precision_at(per: pd.DataFrame, ks: Sequence[int]) -> list[float]:
    ranked = per.sort_values(["day", "score"], ascending=[True, False], kind="stable")
    rank = ranked.groupby("day").cumcount().to_numpy()
    fraud = ranked["fraud"].to_numpy(dtype=np.int64)
    days = ranked["day"].to_numpy()
    n_days = len(np.unique(days))
    out = []
    for k in ks:
        top = rank < k
        hits = pd.Series(fraud[top]).groupby(days[top]).sum()
        out.append(float(hits.sum() / k / n_days) if n_days else 0.0)
    return out


def entity_top_k(y: Any, scores: Any, times: Any, entities: Any, ks: Sequence[int],
                 remove_known: bool = True) -> dict[str, Any]:
    """Mean daily precision at each k; `precision_at_k` with the entities already known compromised removed
    (`remove_known`) or not, and both variants beside it.

    JSON-ready: {"k", "precision_at_k", "remove_known", "precision_at_k_known_removed", "precision_at_k_all",
    "days", "entities", "entity_days", "fraud_entity_days", "fraud_entity_days_new"}.
    """
    s = np.asarray(scores, dtype=np.float64)
    per = _entity_days(np.asarray(y), s, times, entities)
    fresh = per.loc[~_known_before(per)]
    removed, everyone = _precision_at(fresh, ks), _precision_at(per, ks)
    return {"k": [int(k) for k in ks], "precision_at_k": removed if remove_known else everyone,
            "remove_known": bool(remove_known), "precision_at_k_known_removed": removed,
            "precision_at_k_all": everyone, "days": int(per["day"].nunique()),
            "entities": int(per["entity"].nunique()), "entity_days": int(len(per)),
            "fraud_entity_days": int(per["fraud"].sum()), "fraud_entity_days_new": int(fresh["fraud"].sum())}
