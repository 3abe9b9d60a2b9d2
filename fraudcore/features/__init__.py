"""Features from raw events: declarations (config/events.toml, config/features.toml) and the offline engine.

    fs = load_feature_set("config/features.toml")
    log = EventLog.from_dir(root)            # or EventLog({table_name: frame, ...})
    frame = compute_features(log, fs, months=None)

No Metaflow or AWS imports here; flows call these functions.
"""
from fraudcore.features.engine import (
    EngineLimits, FeatureResult, compute_features, compute_features_with_report, compute_partition,
)
from fraudcore.features.errors import EventDataError, FeatureConfigError
from fraudcore.features.events import EventLog, ParquetFile, ParquetTable
from fraudcore.features.featureset import FeatureSet, load_feature_set
from fraudcore.features.partitions import Partition, month_bounds, plan_months, whole_log

__all__ = [
    "EngineLimits", "EventDataError", "EventLog", "FeatureConfigError", "FeatureResult", "FeatureSet", "ParquetFile",
    "ParquetTable", "Partition", "compute_features", "compute_features_with_report", "compute_partition",
    "load_feature_set", "month_bounds", "plan_months", "whole_log",
]
