"""The feature declarations a bundle was trained with, rebuilt from its manifest.

TrainFlow stores the FeatureSet's declarations and fingerprint in the bundle manifest (extra.features).
The server computes a checkout request's features from exactly those, never from whatever
config/features.toml says today, so a model and its feature logic travel and roll back together.
"""
from __future__ import annotations

from typing import Any, Mapping

from fraudcore.features.definitions import (
    AggregateFeature, ColumnRef, DerivedFeature, Equals, History, ReferenceFeature, RequestFeature,
)
from fraudcore.features.featureset import FeatureSet, LabelSource
from fraudcore.features.tables import EventTables, Table
from fraudcore.online.errors import OnlineConfigError
from fraudcore.schema import Schema


def _feature(d: Mapping[str, Any]):
    kind = d["kind"]
    if kind in ("request", "vendor"):
        return RequestFeature(d["name"], kind, d["column"])
    if kind == "derived":
        return DerivedFeature(d["name"], d["function"], tuple(ColumnRef(**r) for r in d["inputs"]), d["calendar"])
    if kind == "reference":
        return ReferenceFeature(d["name"], d["table"], d["column"], d["max_age_ns"], d["default"])
    h = d["null_without"]
    return AggregateFeature(d["name"], d["stream"], tuple(d["key"]), d["op"], d["window_ns"], d["lag_ns"],
                            d["column"], tuple(Equals(**c) for c in d["filters"]),
                            None if h is None else History(**h), d["default"])


def feature_set_from_declarations(decl: Mapping[str, Any], schema: Schema) -> FeatureSet:
    tables = EventTables({n: Table(name=n, **t) for n, t in decl["tables"].items()})
    outcomes = decl.get("outcomes")
    return FeatureSet(schema=schema, tables=tables, target=decl["target"],
                      features=tuple(_feature(f) for f in decl["features"]),
                      outcomes=None if outcomes is None else LabelSource(**outcomes))


def bundle_feature_set(manifest: Mapping[str, Any], schema: Schema) -> FeatureSet | None:
    """None when the model was trained on precomputed features (no declarations to compute from)."""
    info = (manifest.get("extra") or {}).get("features")
    if not info or not info.get("declarations"):
        return None
    fs = feature_set_from_declarations(info["declarations"], schema)
    if info.get("fingerprint") and fs.fingerprint() != info["fingerprint"]:
        raise OnlineConfigError(f"bundle {manifest.get('run_id')}: its feature declarations do not hash to the "
                                f"fingerprint it records ({info['fingerprint'][:12]}); the bundle is damaged")
    return fs
