"""Logistic-regression baseline on the raw features: the yardstick the boosted model must beat.

Numeric fields are median-imputed and standardised, categories one-hot encoded (unknown values
ignored), all derived from the schema. Negatives are downsampled for speed with the sampling rate
folded back into the intercept, so its scores stay probabilities.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fraudcore.schema import Schema


def _design(schema: Schema) -> ColumnTransformer:
    numeric = [f.name for f in schema.features if f.dtype != "category"]
    categorical = [f.name for f in schema.features if f.dtype == "category"]
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])


def _as_frame(schema: Schema, frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for f in schema.features:
        col = frame[f.name]
        out[f.name] = col.astype(object) if f.dtype == "category" else col.astype(np.float64)
    return pd.DataFrame(out)


def fit_logistic_baseline(schema: Schema, frame: pd.DataFrame, seed: int = 0,
                          max_negatives: int = 200_000) -> Pipeline:
    """Fit on `frame` (which must hold the label); keeps all positives and up to `max_negatives`."""
    rng = np.random.default_rng(seed)
    y = frame[schema.label].to_numpy()
    neg = np.flatnonzero(y == 0)
    rate = min(1.0, max_negatives / max(1, len(neg)))
    keep = np.sort(np.concatenate([np.flatnonzero(y == 1), neg[rng.random(len(neg)) < rate]]))
    model = Pipeline([("design", _design(schema)), ("lr", LogisticRegression(max_iter=2000, C=1.0))])
    model.fit(_as_frame(schema, frame.iloc[keep]), y[keep])
    model.named_steps["lr"].intercept_ += np.log(rate)  # undo negative downsampling
    return model


def score_logistic_baseline(schema: Schema, model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(_as_frame(schema, frame))[:, 1]
