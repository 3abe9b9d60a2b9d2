"""Fixtures for the online path: a small raw event log, its offline features, and a bundle trained on
them that carries its feature declarations (as TrainFlow's bundles do)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudcore.features import EventLog, compute_features, load_feature_set
from fraudcore.online.plan import build_plan
from fraudcore.synth.events import write_events

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))

ROWS, SEED = 12_000, 5


@pytest.fixture(scope="session")
def online_events(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("online-events")
    write_events(root, ROWS, SEED)
    return root


@pytest.fixture(scope="session")
def feature_set():
    return load_feature_set()


@pytest.fixture(scope="session")
def plan(feature_set):
    return build_plan(feature_set)


@pytest.fixture(scope="session")
def offline(online_events, feature_set) -> pd.DataFrame:
    """Every authorisation's features from the offline engine, with its outcome label."""
    log = EventLog.from_dir(online_events)
    frame = compute_features(log, feature_set)
    labels = pd.read_parquet(online_events / "labels")
    fraud = labels.groupby("transaction_id")["is_fraud"].max()
    frame["is_fraud"] = frame["transaction_id"].map(fraud).fillna(0).astype(np.int64)
    return frame


@pytest.fixture(scope="session")
def online_bundle(tmp_path_factory, offline, feature_set) -> Path:
    from serving_support import train_bundle

    from fraudcore.bundle import load_bundle, write_bundle, ModelParts, BundleRecord
    root = tmp_path_factory.mktemp("online-bundle")
    b = load_bundle(train_bundle(root / "plain", offline, feature_set.schema, "1765000000000001", 60, 15, 1))
    extra = {"features": {"key": "test", "fingerprint": feature_set.fingerprint(),
                          "declarations": feature_set.to_dict()}}
    return write_bundle(root / "1765000000000001", ModelParts(b.booster, b.pipeline, b.thresholds, b.schema),
                        BundleRecord(b.version, b.profile, metrics=b.metrics, config=b.config,
                                     data_fingerprint={"rows": len(offline)}, extra=extra))
